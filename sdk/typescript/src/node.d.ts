// The few Node globals the SDK uses, declared here so the only
// devDependency is typescript (no @types/node).
declare const process: {
  env: Record<string, string | undefined>;
  pid: number;
  on(event: "SIGTERM" | "SIGINT", listener: () => void): unknown;
  off(event: "SIGTERM" | "SIGINT", listener: () => void): unknown;
};
