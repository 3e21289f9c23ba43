/** schema.d.ts text (banner + openapi-typescript output) from the text of openapi.json. */
export function schemaSource(specJson: string): Promise<string>
