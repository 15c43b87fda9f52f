// QR codes for the TOTP provisioning URI (S4): a PNG data URL for the web page and a PNG buffer
// for the bot's sendPhoto. The URI holds the TOTP secret, so it is never logged or cached here.
import QRCode from "qrcode";

// M recovers ~15 % damage and keeps an otpauth URI (~120 chars) at a version phones scan easily.
const OPTIONS = { errorCorrectionLevel: "M", margin: 2, width: 320 } as const;

/** `data:image/png;base64,…` of a QR code encoding `text`. */
export function qrPngDataUrl(text: string): Promise<string> {
  return QRCode.toDataURL(text, { ...OPTIONS, type: "image/png" });
}

/** The PNG bytes of a QR code encoding `text`. */
export function qrPngBuffer(text: string): Promise<Buffer> {
  return QRCode.toBuffer(text, { ...OPTIONS, type: "png" });
}
