import { ServiceError } from '../../services/types.js';
import { escapeXml, escapeXmlAttribute, renderXmlFields } from './xml-writer.js';

/** The content type that selects the query protocol for `POST /`. */
export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

export interface QueryRequest {
  action: string;
  version: string | undefined;
  /** Every form field except `Action` and `Version`. */
  params: Record<string, string>;
}

/** Decode a form-encoded query-protocol body; raises `MissingAction` without `Action`. */
export function decodeQueryBody(body: Buffer): QueryRequest {
  const form = new URLSearchParams(body.toString('utf8'));
  const params: Record<string, string> = {};
  for (const [name, value] of form) {
    if (name !== 'Action' && name !== 'Version') params[name] = value;
  }

  const action = form.get('Action') ?? '';
  if (action.length === 0) {
    throw new ServiceError(
      'MissingAction',
      "The request has no 'Action' form field; send Action=<operation> in the form-encoded body.",
    );
  }
  return { action, version: form.get('Version') ?? undefined, params };
}

/**
 * `<ActionResponse xmlns><ActionResult>…</ActionResult><ResponseMetadata>…`,
 * leaving out the result element when the operation returns nothing.
 */
export function renderQueryResponse(
  action: string,
  result: Record<string, unknown>,
  namespace: string,
  requestId: string,
): string {
  const fields = renderXmlFields(result);
  const resultXml = fields.length === 0 ? '' : `<${action}Result>${fields}</${action}Result>`;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<${action}Response xmlns="${escapeXmlAttribute(namespace)}">${resultXml}` +
    `<ResponseMetadata><RequestId>${escapeXml(requestId)}</RequestId></ResponseMetadata>` +
    `</${action}Response>\n`
  );
}

/** `<ErrorResponse>` with `Sender` for client errors and `Receiver` for server errors. */
export function renderQueryError(
  code: string,
  message: string,
  status: number,
  namespace: string | undefined,
  requestId: string,
): string {
  const xmlns = namespace === undefined ? '' : ` xmlns="${escapeXmlAttribute(namespace)}"`;
  const type = status >= 500 ? 'Receiver' : 'Sender';
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<ErrorResponse${xmlns}><Error><Type>${type}</Type><Code>${escapeXml(code)}</Code>` +
    `<Message>${escapeXml(message)}</Message></Error>` +
    `<RequestId>${escapeXml(requestId)}</RequestId></ErrorResponse>\n`
  );
}
