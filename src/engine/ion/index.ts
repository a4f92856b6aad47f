export { dot, merklePathOfList, merkleRootOfList } from './dot.js';
export { encodeIonBinary } from './ion-binary.js';
export { encodeAndHash, encodeAndHashJs } from './ion-document.js';
export {
  describeJsValue,
  FOREIGN_ION_VALUE,
  isForeignIonValue,
  isDocumentObject,
  JsValueError,
  JsValueLimitError,
  MAX_JS_VALUE_DEPTH,
  writeJsDocument,
  writeJsValue,
  type DocumentObject,
  type FieldObserver,
} from './js-value.js';
export { IonBinaryWriter } from './ion-binary-writer.js';
export { hashString, ionHash, ionHashSerialization } from './ion-hash.js';
export { IonHashBuilder } from './ion-hash-builder.js';
export type { DigestFunction } from './ion-hash-builder.js';
export type { ContainerType, IonTypeName, IonValueWriter } from './ion-value-writer.js';
