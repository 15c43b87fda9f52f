// Typed, coercing access to Bot API parameters: form bodies deliver everything as strings
// and object parameters as JSON text, while JSON bodies deliver real types.

import { createHash } from "node:crypto";
import { badRequest } from "./api-error";

export interface UploadedFile {
  /** The multipart field the bytes arrived in (grammY uses a random id plus `attach://id`). */
  field: string;
  fileName?: string;
  contentType?: string;
  data: Buffer;
}

/** Parameters that carry JSON objects and arrive JSON-encoded in form/multipart bodies. */
const JSON_FIELDS = new Set([
  "reply_markup",
  "reply_parameters",
  "commands",
  "scope",
  "entities",
  "caption_entities",
  "allowed_updates",
  "link_preview_options",
]);

export class Params {
  readonly values: Record<string, unknown>;

  constructor(
    raw: Record<string, unknown>,
    readonly files: ReadonlyMap<string, UploadedFile> = new Map(),
  ) {
    const values: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(raw)) {
      values[key] = JSON_FIELDS.has(key) && typeof value === "string" ? tryJson(value) : value;
    }
    this.values = values;
  }

  has(name: string): boolean {
    const value = this.values[name];
    return value !== undefined && value !== null && value !== "";
  }

  optString(name: string): string | undefined {
    if (!this.has(name)) return undefined;
    const value = this.values[name];
    return typeof value === "string" ? value : String(value);
  }

  optInt(name: string): number | undefined {
    if (!this.has(name)) return undefined;
    const value = this.values[name];
    if (typeof value === "number" && Number.isSafeInteger(value)) return value;
    if (typeof value === "string" && /^\s*-?\d+\s*$/.test(value)) {
      const parsed = Number(value);
      if (Number.isSafeInteger(parsed)) return parsed;
    }
    throw badRequest(`field "${name}" must be a valid Number`);
  }

  bool(name: string): boolean {
    const value = this.values[name];
    return value === true || value === 1 || value === "true" || value === "1" || value === "True";
  }

  /** A JSON object parameter; `description` is Telegram's message for undecodable input. */
  optObject<T>(name: string, description: string): T | undefined {
    if (!this.has(name)) return undefined;
    const value = this.values[name];
    if (typeof value === "object" && value !== null) return value as T;
    throw badRequest(description);
  }

  /** The upload a parameter refers to: `attach://<field>`, or a file part named `name` itself. */
  optFile(name: string): UploadedFile | undefined {
    const value = this.values[name];
    if (typeof value === "string") return this.uploaded(value);
    return value === undefined ? this.files.get(name) : undefined;
  }

  private uploaded(reference: string): UploadedFile | undefined {
    const field = reference.startsWith("attach://") ? reference.slice("attach://".length) : "";
    return field ? this.files.get(field) : undefined;
  }

  /** Parameters for the call log: uploads are described rather than inlined. */
  forLog(): Record<string, unknown> {
    const out: Record<string, unknown> = { ...this.values };
    for (const [key, value] of Object.entries(out)) {
      const file = typeof value === "string" ? this.uploaded(value) : undefined;
      if (file) out[key] = describeUpload(file);
    }
    for (const [field, file] of this.files) {
      if (!Object.values(this.values).includes(`attach://${field}`)) {
        out[field] = describeUpload(file);
      }
    }
    return out;
  }
}

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function describeUpload(file: UploadedFile): Record<string, unknown> {
  return {
    file_name: file.fileName,
    file_size: file.data.length,
    sha256: sha256(file.data),
  };
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Left as text; the accessor that needs an object reports Telegram's error.
    return text;
  }
}
