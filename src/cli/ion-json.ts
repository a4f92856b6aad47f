import { IonTypes, dom } from 'ion-js';

/**
 * Write an Ion value as JSON text without losing precision, by Ion's rules
 * for down-conversion to JSON. Ints and decimals become JSON numbers with
 * every digit, and timestamps strings of their Ion text. Symbols become
 * strings, blobs base64 strings, clobs strings of their bytes, and
 * s-expressions arrays. Nulls of every type, nan and the infinities become
 * null, and a struct with a repeated field keeps the last value.
 */
export function ionToJson(value: dom.Value): string {
  if (value.isNull()) return 'null';
  switch (value.getType()) {
    case IonTypes.BOOL:
      return value.booleanValue() ? 'true' : 'false';
    case IonTypes.INT:
      return value.bigIntValue()!.toString();
    case IonTypes.FLOAT:
      return floatJson(value.numberValue()!);
    case IonTypes.DECIMAL: {
      const decimal = value.decimalValue()!;
      return decimalJson(decimal.getCoefficient(), decimal.getExponent(), decimal.isNegative());
    }
    case IonTypes.TIMESTAMP:
      return JSON.stringify(value.timestampValue()!.toString());
    case IonTypes.STRING:
    case IonTypes.SYMBOL:
      return JSON.stringify(value.stringValue());
    case IonTypes.BLOB:
      return JSON.stringify(Buffer.from(value.uInt8ArrayValue()!).toString('base64'));
    case IonTypes.CLOB:
      return JSON.stringify(Buffer.from(value.uInt8ArrayValue()!).toString('latin1'));
    case IonTypes.LIST:
    case IonTypes.SEXP:
      return `[${value.elements().map(ionToJson).join(',')}]`;
    case IonTypes.STRUCT: {
      const fields = new Map<string, string>();
      for (const [name, field] of value.fields()) fields.set(name, ionToJson(field));
      const parts = [...fields].map(([name, text]) => `${JSON.stringify(name)}:${text}`);
      return `{${parts.join(',')}}`;
    }
    default:
      return 'null';
  }
}

/** Write a float as a JSON number that keeps the sign of zero. Nan and the infinities become null. */
function floatJson(float: number): string {
  if (!Number.isFinite(float)) return 'null';
  return Object.is(float, -0) ? '-0' : JSON.stringify(float);
}

/**
 * Write a decimal as a JSON number: plain digits unless that takes over 20
 * extra zeros. A zero with a positive exponent is `0` or `-0`, since JSON
 * numbers cannot start with more than one zero.
 */
function decimalJson(coefficient: bigint, exponent: number, negative: boolean): string {
  const sign = negative ? '-' : '';
  const digits = (coefficient < 0n ? -coefficient : coefficient).toString();
  if (coefficient === 0n && exponent >= 0) return `${sign}0`;
  if (exponent >= 0)
    return exponent <= 20
      ? `${sign}${digits}${'0'.repeat(exponent)}`
      : `${sign}${digits}e${exponent}`;
  const places = -exponent;
  if (places - digits.length > 20) return `${sign}${digits}e${exponent}`;
  const padded = digits.padStart(places + 1, '0');
  return `${sign}${padded.slice(0, -places)}.${padded.slice(-places)}`;
}
