// Renders parse_mode text (HTML, MarkdownV2, legacy Markdown) to plain text plus entities and
// rejects malformed markup with Telegram's own "can't parse entities" descriptions.
// Modelled on TDLib's parsers; the strictness is deliberate, unescaped markup is a classic bug.

import { type BotApiError, badRequest } from "./api-error";
import type { MessageEntity } from "./types";

export interface FormattedText {
  text: string;
  entities: MessageEntity[];
}

/** Throws a 400 BotApiError for unknown parse modes and malformed markup. */
export function renderParseMode(source: string, parseMode: string | undefined): FormattedText {
  const mode = (parseMode ?? "").toLowerCase();
  switch (mode) {
    case "":
      return { text: source, entities: [] };
    case "html":
      return parseHtml(source);
    case "markdownv2":
      return parseMarkdownV2(source);
    case "markdown":
      return parseMarkdown(source);
    default:
      throw badRequest("unsupported parse_mode");
  }
}

/**
 * Telegram strips leading and trailing whitespace from texts and captions after parsing;
 * entity offsets move along and entities that end up empty disappear.
 */
export function trimFormatted({ text, entities }: FormattedText): FormattedText {
  const start = text.length - text.trimStart().length;
  const trimmed = text.trim();
  const end = start + trimmed.length;
  const kept: MessageEntity[] = [];
  for (const entity of entities) {
    const from = Math.max(entity.offset, start);
    const to = Math.min(entity.offset + entity.length, end);
    if (to > from) kept.push({ ...entity, offset: from - start, length: to - from });
  }
  return { text: trimmed, entities: kept };
}

const parseError = (detail: string): BotApiError => badRequest(`can't parse entities: ${detail}`);

/** TDLib reports positions as UTF-8 byte offsets into the source text. */
const byteOffset = (source: string, index: number): number =>
  Buffer.byteLength(source.slice(0, index), "utf8");

const isSpace = (c: string | undefined): boolean =>
  c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f" || c === "\v";

function sortEntities(entities: MessageEntity[]): MessageEntity[] {
  return entities.sort((a, b) => a.offset - b.offset || b.length - a.length);
}

// ---- HTML -------------------------------------------------------------------------------

const HTML_TAGS = new Set([
  "a",
  "b",
  "strong",
  "i",
  "em",
  "s",
  "strike",
  "del",
  "u",
  "ins",
  "tg-spoiler",
  "tg-emoji",
  "span",
  "pre",
  "code",
  "blockquote",
]);

/** Decodes `&lt;`-style and numeric references; unknown ones stay literal, as in TDLib. */
function decodeHtmlEntity(s: string, pos: number): { char: string; end: number } | undefined {
  let end = pos + 1;
  let codePoint = 0;
  if (s[end] === "#") {
    end++;
    const hex = s[end] === "x" || s[end] === "X";
    if (hex) end++;
    const digits = hex ? /[0-9a-fA-F]/ : /[0-9]/;
    const start = end;
    while (end < s.length && digits.test(s[end] ?? "")) end++;
    if (end === start || end - pos >= 10) return undefined;
    codePoint = Number.parseInt(s.slice(start, end), hex ? 16 : 10);
    if (codePoint === 0 || codePoint >= 0x10ffff) return undefined;
  } else {
    const start = end;
    while (end < s.length && /[a-zA-Z]/.test(s[end] ?? "")) end++;
    const name = s.slice(start, end);
    const named: Record<string, number> = { lt: 60, gt: 62, amp: 38, quot: 34 };
    const value = named[name];
    if (value === undefined) return undefined;
    codePoint = value;
  }
  if (s[end] === ";") end++;
  return { char: String.fromCodePoint(codePoint), end };
}

interface OpenTag {
  tag: string;
  argument: string;
  offset: number;
}

export function parseHtml(s: string): FormattedText {
  let out = "";
  const entities: MessageEntity[] = [];
  const open: OpenTag[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === "&") {
      const decoded = decodeHtmlEntity(s, i);
      if (decoded) {
        out += decoded.char;
        i = decoded.end;
        continue;
      }
    }
    if (c !== "<") {
      out += c;
      i++;
      continue;
    }
    const begin = i;
    const at = () => byteOffset(s, begin);
    i++;
    if (s[i] !== "/") {
      while (i < s.length && !isSpace(s[i]) && s[i] !== ">") i++;
      if (i >= s.length) throw parseError(`Unclosed start tag at byte offset ${at()}`);
      const tag = s.slice(begin + 1, i).toLowerCase();
      if (!HTML_TAGS.has(tag)) {
        throw parseError(`Unsupported start tag "${tag}" at byte offset ${at()}`);
      }
      let argument = "";
      while (s[i] !== ">") {
        while (i < s.length && isSpace(s[i])) i++;
        if (s[i] === ">") break;
        if (i >= s.length) throw parseError(`Unclosed start tag at byte offset ${at()}`);
        const nameStart = i;
        while (i < s.length && !isSpace(s[i]) && s[i] !== "=" && s[i] !== ">") i++;
        const attribute = s.slice(nameStart, i).toLowerCase();
        if (!attribute) {
          throw parseError(`Empty attribute name in the tag "${tag}" at byte offset ${at()}`);
        }
        while (i < s.length && isSpace(s[i])) i++;
        if (tag === "blockquote" && attribute === "expandable" && s[i] !== "=") {
          argument = "expandable";
          continue;
        }
        if (s[i] !== "=") {
          throw parseError(
            `Expected equal sign in declaration of an attribute of the tag "${tag}" at byte offset ${at()}`,
          );
        }
        i++;
        while (i < s.length && isSpace(s[i])) i++;
        if (i >= s.length) throw parseError(`Unclosed start tag "${tag}" at byte offset ${at()}`);
        let value = "";
        const quote = s[i];
        if (quote !== "'" && quote !== '"') {
          const tokenStart = i;
          while (i < s.length && /[a-zA-Z0-9.-]/.test(s[i] ?? "")) i++;
          value = s.slice(tokenStart, i).toLowerCase();
          if (!isSpace(s[i]) && s[i] !== ">") {
            throw parseError(
              `Unexpected end of name token at byte offset ${byteOffset(s, tokenStart)}`,
            );
          }
        } else {
          i++;
          while (i < s.length && s[i] !== quote) {
            const decoded = s[i] === "&" ? decodeHtmlEntity(s, i) : undefined;
            if (decoded) {
              value += decoded.char;
              i = decoded.end;
            } else {
              value += s[i];
              i++;
            }
          }
          if (s[i] === quote) i++;
        }
        if (i >= s.length) throw parseError(`Unclosed start tag at byte offset ${at()}`);
        if (tag === "a" && attribute === "href") argument = value;
        if (tag === "code" && attribute === "class" && value.startsWith("language-")) {
          argument = value.slice("language-".length);
        }
        if (tag === "span" && attribute === "class") argument = value;
        if (tag === "tg-emoji" && attribute === "emoji-id") argument = value;
      }
      i++;
      if (tag === "span" && argument !== "tg-spoiler") {
        throw parseError(`Tag "span" must have class "tg-spoiler" at byte offset ${at()}`);
      }
      open.push({ tag, argument, offset: out.length });
      continue;
    }

    if (open.length === 0) throw parseError(`Unexpected end tag at byte offset ${at()}`);
    while (i < s.length && !isSpace(s[i]) && s[i] !== ">") i++;
    const endName = s.slice(begin + 2, i);
    while (i < s.length && isSpace(s[i])) i++;
    if (s[i] !== ">") throw parseError(`Unclosed end tag at byte offset ${at()}`);
    i++;
    const top = open.pop() as OpenTag;
    if (endName && endName.toLowerCase() !== top.tag) {
      throw parseError(
        `Unmatched end tag at byte offset ${at()}, expected "</${top.tag}>", found "</${endName}>"`,
      );
    }
    const length = out.length - top.offset;
    if (length > 0) closeHtmlEntity(top, length, out, entities);
  }
  const unclosed = open.at(-1);
  if (unclosed) {
    throw parseError(`Can't find end tag corresponding to start tag "${unclosed.tag}"`);
  }
  return { text: out, entities: sortEntities(entities) };
}

function closeHtmlEntity(
  top: OpenTag,
  length: number,
  out: string,
  entities: MessageEntity[],
): void {
  const offset = top.offset;
  const simple: Record<string, string> = {
    b: "bold",
    strong: "bold",
    i: "italic",
    em: "italic",
    u: "underline",
    ins: "underline",
    s: "strikethrough",
    strike: "strikethrough",
    del: "strikethrough",
    "tg-spoiler": "spoiler",
    span: "spoiler",
  };
  const type = simple[top.tag];
  if (type) {
    entities.push({ type, offset, length });
    return;
  }
  switch (top.tag) {
    case "a": {
      const url = top.argument || out.slice(offset);
      entities.push({ type: "text_link", offset, length, url });
      return;
    }
    case "code":
      entities.push({
        type: "code",
        offset,
        length,
        ...(top.argument ? { language: top.argument } : {}),
      });
      return;
    case "pre": {
      // <pre><code class="language-x">…</code></pre> collapses into one pre entity.
      const last = entities.at(-1);
      if (last?.type === "code" && last.offset === offset && last.length === length) {
        entities.pop();
        entities.push({
          type: "pre",
          offset,
          length,
          ...(last.language ? { language: last.language } : {}),
        });
      } else {
        entities.push({ type: "pre", offset, length });
      }
      return;
    }
    case "blockquote":
      entities.push({
        type: top.argument === "expandable" ? "expandable_blockquote" : "blockquote",
        offset,
        length,
      });
      return;
    case "tg-emoji":
      entities.push({ type: "custom_emoji", offset, length, custom_emoji_id: top.argument });
      return;
  }
}

// ---- MarkdownV2 -------------------------------------------------------------------------

const RESERVED_V2 = "_*[]()~`>#+-=|{}.!";

type V2Kind =
  | "Bold"
  | "Italic"
  | "Underline"
  | "Strikethrough"
  | "Spoiler"
  | "TextUrl"
  | "CustomEmoji"
  | "Code"
  | "Pre";

interface OpenV2 {
  kind: V2Kind;
  offset: number;
  byteAt: number;
  language?: string;
}

const reservedError = (c: string): BotApiError =>
  parseError(`Character '${c}' is reserved and must be escaped with the preceding '\\'`);

function isEndOfV2(kind: V2Kind, s: string, i: number): boolean {
  const c = s[i];
  switch (kind) {
    case "Bold":
      return c === "*";
    case "Italic":
      return c === "_" && s[i + 1] !== "_";
    case "Underline":
      return c === "_" && s[i + 1] === "_";
    case "Strikethrough":
      return c === "~";
    case "Spoiler":
      return c === "|" && s[i + 1] === "|";
    case "TextUrl":
    case "CustomEmoji":
      return c === "]";
    case "Code":
      return c === "`";
    case "Pre":
      return s.startsWith("```", i);
  }
}

export function parseMarkdownV2(s: string): FormattedText {
  let out = "";
  const entities: MessageEntity[] = [];
  const open: OpenV2[] = [];
  let quote: { offset: number; expandable: boolean } | undefined;
  let i = 0;

  const closeQuote = () => {
    // The line break that ends the quote belongs to the text after it.
    const end = out.endsWith("\n") ? out.length - 1 : out.length;
    if (quote && end > quote.offset) {
      entities.push({
        type: quote.expandable ? "expandable_blockquote" : "blockquote",
        offset: quote.offset,
        length: end - quote.offset,
      });
    }
    quote = undefined;
  };

  while (i < s.length) {
    const c = s[i] as string;
    const lineStart = i === 0 || s[i - 1] === "\n";
    if (lineStart && open.length === 0) {
      const expandable = s.startsWith("**>", i);
      if (s[i] === ">" || expandable) {
        if (!quote) quote = { offset: out.length, expandable };
        i += expandable ? 3 : 1;
        continue;
      }
      if (quote) closeQuote();
    }
    const next = s.charCodeAt(i + 1);
    if (c === "\\" && next > 0 && next <= 126) {
      out += s[i + 1];
      i += 2;
      continue;
    }
    const top = open.at(-1);
    const reserved = top?.kind === "Code" || top?.kind === "Pre" ? "`" : RESERVED_V2;
    if (!reserved.includes(c)) {
      out += c;
      i++;
      continue;
    }

    if (!top || !isEndOfV2(top.kind, s, i)) {
      const byteAt = byteOffset(s, i);
      let kind: V2Kind;
      let language: string | undefined;
      switch (c) {
        case "_":
          kind = s[i + 1] === "_" ? "Underline" : "Italic";
          i += kind === "Underline" ? 2 : 1;
          break;
        case "*":
          kind = "Bold";
          i++;
          break;
        case "~":
          kind = "Strikethrough";
          i++;
          break;
        case "|":
          if (s[i + 1] !== "|") throw reservedError(c);
          kind = "Spoiler";
          i += 2;
          break;
        case "[":
          kind = "TextUrl";
          i++;
          break;
        case "!":
          if (s[i + 1] !== "[") throw reservedError(c);
          kind = "CustomEmoji";
          i += 2;
          break;
        case "`":
          if (s.startsWith("```", i)) {
            kind = "Pre";
            i += 3;
            let end = i;
            while (end < s.length && !isSpace(s[end]) && s[end] !== "`") end++;
            if (end > i && end < s.length && s[end] !== "`") {
              language = s.slice(i, end);
              i = end;
            }
            // One line break right after the opening fence is not content.
            if (s[i] === "\n" || s[i] === "\r") {
              const pair = (s[i + 1] === "\n" || s[i + 1] === "\r") && s[i] !== s[i + 1];
              i += pair ? 2 : 1;
            }
          } else {
            kind = "Code";
            i++;
          }
          break;
        default:
          throw reservedError(c);
      }
      open.push({ kind, offset: out.length, byteAt, ...(language ? { language } : {}) });
      continue;
    }

    const entity = open.pop() as OpenV2;
    const length = out.length - entity.offset;
    const base = { offset: entity.offset, length };
    switch (entity.kind) {
      case "Bold":
      case "Italic":
      case "Strikethrough":
      case "Code":
        i++;
        break;
      case "Underline":
      case "Spoiler":
        i += 2;
        break;
      case "Pre":
        i += 3;
        break;
      case "TextUrl":
      case "CustomEmoji": {
        let url = "";
        if (s[i + 1] !== "(") {
          url = out.slice(entity.offset);
          i++;
        } else {
          i += 2;
          const urlStart = i;
          while (i < s.length && s[i] !== ")") {
            const code = s.charCodeAt(i + 1);
            if (s[i] === "\\" && code > 0 && code <= 126) {
              url += s[i + 1];
              i += 2;
            } else {
              url += s[i];
              i++;
            }
          }
          if (s[i] !== ")") {
            throw parseError(`Can't find end of a URL at byte offset ${byteOffset(s, urlStart)}`);
          }
          i++;
        }
        if (entity.kind === "CustomEmoji") {
          const id = /^tg:\/\/emoji\?id=(\d+)$/.exec(url)?.[1];
          if (!id) throw parseError(`Custom emoji URL must have an emoji identifier`);
          if (length > 0) entities.push({ type: "custom_emoji", ...base, custom_emoji_id: id });
        } else if (length > 0) {
          entities.push({ type: "text_link", ...base, url });
        }
        continue;
      }
    }
    if (length === 0) continue;
    const types: Record<string, string> = {
      Bold: "bold",
      Italic: "italic",
      Underline: "underline",
      Strikethrough: "strikethrough",
      Spoiler: "spoiler",
      Code: "code",
      Pre: "pre",
    };
    entities.push({
      type: types[entity.kind] ?? "bold",
      ...base,
      ...(entity.language ? { language: entity.language } : {}),
    });
  }
  const unclosed = open.at(-1);
  if (unclosed) {
    const name = unclosed.kind === "Pre" && unclosed.language ? "PreCode" : unclosed.kind;
    throw parseError(`Can't find end of ${name} entity at byte offset ${unclosed.byteAt}`);
  }
  closeQuote();
  return { text: out, entities: sortEntities(entities) };
}

// ---- Legacy Markdown --------------------------------------------------------------------

export function parseMarkdown(s: string): FormattedText {
  let out = "";
  const entities: MessageEntity[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (c === "\\" && "_*`[".includes(s[i + 1] ?? " ")) {
      out += s[i + 1];
      i += 2;
      continue;
    }
    if (!"_*`[".includes(c)) {
      out += c;
      i++;
      continue;
    }
    const begin = i;
    const endChar = c === "[" ? "]" : c;
    let isPre = false;
    let language: string | undefined;
    i++;
    if (c === "`" && s[i] === "`" && s[i + 1] === "`") {
      i += 2;
      isPre = true;
      let end = i;
      while (end < s.length && !isSpace(s[end]) && s[end] !== "`") end++;
      if (end > i && end < s.length && s[end] !== "`") {
        language = s.slice(i, end);
        i = end;
      }
      if (s[i] === "\n" || s[i] === "\r") i++;
    }
    const offset = out.length;
    while (i < s.length && (s[i] !== endChar || (isPre && !s.startsWith("```", i)))) {
      out += s[i];
      i++;
    }
    if (i >= s.length) {
      throw parseError(
        `Can't find end of the entity starting at byte offset ${byteOffset(s, begin)}`,
      );
    }
    const length = out.length - offset;
    i += isPre ? 3 : 1;
    if (c === "[") {
      let url = out.slice(offset);
      if (s[i] === "(") {
        const close = s.indexOf(")", i + 1);
        if (close >= 0) {
          url = s.slice(i + 1, close);
          i = close + 1;
        }
      }
      if (length > 0) entities.push({ type: "text_link", offset, length, url });
      continue;
    }
    if (length === 0) continue;
    const type = isPre ? "pre" : c === "*" ? "bold" : c === "_" ? "italic" : "code";
    entities.push({ type, offset, length, ...(language ? { language } : {}) });
  }
  return { text: out, entities: sortEntities(entities) };
}
