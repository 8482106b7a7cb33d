export * from "./status";
export * from "./arena";
export * from "./records";
export * from "./testing";
export * from "./validate";
export * from "./csv";
export * from "./ndjson";
