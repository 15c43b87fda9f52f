// Files the bot uploaded or referenced: issues Telegram-looking file ids so they can be
// re-sent by id, keeps upload bytes for getFile downloads and the web sandbox.

import { randomBytes } from "node:crypto";
import { sha256 } from "./params";

export interface StoredFile {
  file_id: string;
  file_unique_id: string;
  kind: "photo";
  width: number;
  height: number;
  file_path: string;
  file_name?: string;
  url?: string;
  data?: Buffer;
  sha256?: string;
}

export class FileStore {
  private readonly byId = new Map<string, StoredFile>();
  private readonly byPath = new Map<string, StoredFile>();
  private counter = 0;

  addUpload(data: Buffer, fileName: string | undefined): StoredFile {
    const { width, height } = imageSize(data);
    return this.add({
      kind: "photo",
      width,
      height,
      data,
      sha256: sha256(data),
      file_name: fileName,
    });
  }

  /** Telegram would download the URL; the emulator never goes online, so it only remembers it. */
  addUrl(url: string): StoredFile {
    return this.add({ kind: "photo", width: 0, height: 0, url });
  }

  get(fileId: string): StoredFile | undefined {
    return this.byId.get(fileId);
  }

  getByPath(path: string): StoredFile | undefined {
    return this.byPath.get(path);
  }

  private add(
    file: Omit<StoredFile, "file_id" | "file_unique_id" | "file_path" | "kind"> & { kind: "photo" },
  ): StoredFile {
    this.counter += 1;
    const stored: StoredFile = {
      ...file,
      // Prefixes mimic real photo ids so log output reads naturally; the rest is random.
      file_id: `AgACAgIAAxk${randomBytes(36).toString("base64url")}`,
      file_unique_id: `AQAD${randomBytes(9).toString("base64url")}`,
      file_path: `photos/file_${this.counter}.jpg`,
    };
    this.byId.set(stored.file_id, stored);
    this.byPath.set(stored.file_path, stored);
    return stored;
  }
}

/** Width/height from PNG, GIF or JPEG headers; 0×0 when the bytes are not a known image. */
export function imageSize(data: Buffer): { width: number; height: number } {
  if (data.length >= 24 && data.readUInt32BE(0) === 0x89504e47) {
    return { width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
  }
  if (data.length >= 10 && data.toString("latin1", 0, 4) === "GIF8") {
    return { width: data.readUInt16LE(6), height: data.readUInt16LE(8) };
  }
  if (data.length >= 4 && data[0] === 0xff && data[1] === 0xd8) {
    let offset = 2;
    while (offset + 9 < data.length && data[offset] === 0xff) {
      const marker = data[offset + 1] ?? 0;
      const length = data.readUInt16BE(offset + 2);
      const isStartOfFrame =
        marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
      if (isStartOfFrame) {
        return { height: data.readUInt16BE(offset + 5), width: data.readUInt16BE(offset + 7) };
      }
      offset += 2 + length;
    }
  }
  return { width: 0, height: 0 };
}
