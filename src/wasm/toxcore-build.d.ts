// SPDX-License-Identifier: GPL-3.0-or-later
// Types of the two files build.sh generates under build/wasm/.
declare module '*/build/wasm/toxcore.mjs' {
  interface EmscriptenInstance {
    asm: Record<string, unknown>;
  }
  const createToxcoreModule: (options: Record<string, unknown>) => Promise<EmscriptenInstance>;
  export default createToxcoreModule;
}
declare module '*/build/wasm/toxcore-binary.mjs' {
  /** The module's bytes, base64. */
  const toxcoreWasmBase64: () => string;
  export default toxcoreWasmBase64;
}
