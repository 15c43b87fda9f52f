export * from "./daily-summary";
export * from "./settings";
