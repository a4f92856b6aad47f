export { KmsService, type KmsOperationName, type KmsOptions } from './kms-service.js';
export { SeedFileError } from './kms-seed.js';
export { OwnedKey } from './owned-keys.js';
