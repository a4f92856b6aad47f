/** Escape text for an XML element's content. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>\r]/g, (char) => XML_ESCAPES[char] ?? char);
}

/** Escape text for a double-quoted XML attribute value. */
export function escapeXmlAttribute(text: string): string {
  return text.replace(/[&<>"\r\n\t]/g, (char) => XML_ESCAPES[char] ?? char);
}

const XML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  '\r': '&#13;',
  '\n': '&#10;',
  '\t': '&#9;',
};

const ELEMENT_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/**
 * Render plain data as the elements of an AWS query-protocol response. An
 * object's fields become elements in field order, and an array's items
 * become `<member>` elements. A `Date` becomes ISO 8601 text and bytes
 * become base64. Fields that are `undefined` or `null` are left out.
 *
 * @example
 * renderXmlFields({ Role: { RoleName: 'r', Tags: ['a'] } })
 * // => '<Role><RoleName>r</RoleName><Tags><member>a</member></Tags></Role>'
 */
export function renderXmlFields(fields: Record<string, unknown>): string {
  let xml = '';
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue;
    xml += renderElement(name, value);
  }
  return xml;
}

function renderElement(name: string, value: unknown): string {
  if (!ELEMENT_NAME.test(name)) {
    throw new TypeError(`cannot render ${JSON.stringify(name)} as an XML element name`);
  }
  const content = renderContent(value);
  return content.length === 0 ? `<${name}/>` : `<${name}>${content}</${name}>`;
}

function renderContent(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) {
    return value
      .filter((item) => item !== undefined && item !== null)
      .map((item) => renderElement('member', item))
      .join('');
  }
  if (typeof value === 'object' && value !== null) {
    return renderXmlFields(value as Record<string, unknown>);
  }
  return escapeXml(String(value));
}
