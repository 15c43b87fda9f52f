/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// Small DOM helpers shared by the settings page and the sandbox.

export type Json = Record<string, unknown>;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function $<T extends HTMLElement = HTMLElement>(selector: string): T {
  const el = document.querySelector<T>(selector);
  if (!el) throw new Error(`missing element ${selector}`);
  return el;
}

export function show(selector: string, visible: boolean): void {
  $(selector).hidden = !visible;
}

export function setText(selector: string, text: string): void {
  $(selector).textContent = text;
}
