// Token: can the device ARM user get a token from the device's ADFS, in the form the controller asks for.
import type { TokenCredential } from '@azure/core-auth';
import { resourceOfScope } from '../../azure/adfsPasswordCredential.js';
import { type CheckResult, errorText, fail, pass, withDeadline } from '../check.js';

const ID = 'token';
const TITLE = 'ADFS token';

export interface TokenCheckInput {
  credential: TokenCredential;
  scope: string;
  loginEndpoint: string;
  username: string;
  timeoutMs: number;
}

/** Plain-words fix for the usual ADFS refusals (domain notes: wrong password AADSTS50126 / MSIS9659, wrong resource AADSTS90056). */
function fixFor(message: string): string {
  if (/MSIS9659|50126|invalid_grant|username or password|'username' or 'password'/i.test(message)) {
    return "the ARM user name or password is wrong: the user is EdgeArmUser; reset its password in the device's local web UI (or Set-AzDataBoxEdgeUser) and update the credentials";
  }
  if (/certificate|self.signed|unable to verify/i.test(message)) {
    return "the login endpoint's certificate is not trusted: pass the device's root CA with --ca-file";
  }
  if (/90056|500011|invalid_resource/i.test(message)) {
    return 'ADFS refused the resource: the ARM endpoint must be exactly https://management.<device>.<dnsdomain> as shown in the local web UI (Device > Device endpoints)';
  }
  return 'check the login endpoint (https://login.<device>.<dnsdomain>) and that it is reachable from here';
}

export async function checkToken(input: TokenCheckInput): Promise<CheckResult> {
  try {
    const token = await withDeadline(input.credential.getToken(input.scope), input.timeoutMs, 'the token request');
    if (token === null) return fail(ID, TITLE, `${input.loginEndpoint}/adfs returned no token`, fixFor(''));
    return pass(ID, TITLE, `token for ${input.username} from ${input.loginEndpoint}/adfs in the documented resource form (resource ${resourceOfScope(input.scope)}), valid until ${new Date(token.expiresOnTimestamp).toISOString()}`, {
      authority: `${input.loginEndpoint}/adfs`,
      resource: resourceOfScope(input.scope),
      expiresOn: new Date(token.expiresOnTimestamp).toISOString(),
    });
  } catch (err) {
    const message = errorText(err);
    return fail(ID, TITLE, `${input.loginEndpoint}/adfs refused a token for ${input.username}: ${message}`, fixFor(message), { authority: `${input.loginEndpoint}/adfs` });
  }
}
