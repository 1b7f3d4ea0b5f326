// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Stands in for the MCP SDK's Ajv-based JSON Schema validator (validation/ajv-provider.js):
 * the SDK's Server uses it only to check elicitation answers, and `toxtunnel mcp` never
 * elicits. scripts/bundle.mjs resolves the SDK's import of ajv-provider.js to this module,
 * which keeps Ajv and its dependencies (~190 KB) out of dist/toxtunnel.mjs; mcp-command.ts
 * also passes it explicitly, so the SDK never builds its default either way.
 */
import type { JsonSchemaValidator, jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation';

export class AjvJsonSchemaValidator implements jsonSchemaValidator {
  getValidator<T>(): JsonSchemaValidator<T> {
    return () => ({ valid: false, data: undefined, errorMessage: 'toxtunnel mcp validates no JSON Schemas (it never elicits input)' });
  }
}
