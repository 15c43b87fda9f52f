// QR codes for the TOTP provisioning URI: a PNG data URL for the web and PNG bytes for the bot.
import { describe, expect, it } from "vitest";
import { qrPngBuffer, qrPngDataUrl } from "../../../src/infra/qr";

const URI =
  "otpauth://totp/Warden:alice%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Warden&algorithm=SHA1&digits=6&period=30";
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe("qr", () => {
  it("when a data URL is made, then it is a base64 PNG", async () => {
    const url = await qrPngDataUrl(URI);

    expect(url.startsWith("data:image/png;base64,")).toBe(true);
    const bytes = Buffer.from(url.slice("data:image/png;base64,".length), "base64");
    expect(bytes.subarray(0, 8)).toEqual(PNG_SIGNATURE);
  });

  it("when a buffer is made, then it starts with the PNG signature", async () => {
    const png = await qrPngBuffer(URI);

    expect(png.subarray(0, 8)).toEqual(PNG_SIGNATURE);
    expect(png.length).toBeGreaterThan(200);
  });
});
