import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The profile name that `vellum serve` writes. */
export const PROFILE = 'vellum';

export interface ProfileSettings {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  endpointUrl: string;
}

export interface ProfilePaths {
  credentialsFile: string;
  configFile: string;
}

/**
 * Write the AWS shared `credentials` and `config` files for profile
 * `vellum` into the data directory, readable by the owner only (0600).
 * A file is rewritten only when its content would change.
 */
export function writeAwsProfile(dataDir: string, settings: ProfileSettings): ProfilePaths {
  const credentialsFile = join(dataDir, 'credentials');
  const configFile = join(dataDir, 'config');
  writePrivateFile(
    credentialsFile,
    `[${PROFILE}]\n` +
      `aws_access_key_id = ${settings.accessKeyId}\n` +
      `aws_secret_access_key = ${settings.secretAccessKey}\n`,
  );
  writePrivateFile(
    configFile,
    `[profile ${PROFILE}]\n` +
      `region = ${settings.region}\n` +
      `endpoint_url = ${settings.endpointUrl}\n`,
  );
  return { credentialsFile, configFile };
}

function writePrivateFile(path: string, content: string): void {
  if (existsSync(path) && readFileSync(path, 'utf8') === content) {
    chmodSync(path, 0o600);
    return;
  }
  // Write beside the target and rename, so a reader never sees half a file.
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, content, { mode: 0o600 });
  renameSync(temporary, path);
}
