// Loopback OpenID Connect provider for ImageHub's test suite.
//
// Configuration comes from the environment:
//   OIDC_PORT           port to listen on (127.0.0.1 only); issuer is http://127.0.0.1:$OIDC_PORT
//   OIDC_CLIENT_ID      the single confidential client; registered as client_secret_basic,
//                       oidc-provider accepts client_secret_post for it as well
//   OIDC_CLIENT_SECRET
//   OIDC_REDIRECT_URI
//
// Any login name is accepted (with any password) through oidc-provider's built-in
// development interactions: a login form, then a consent form. The account's
// sub is the login name. Prints "OIDC-READY <issuer>" on stdout once listening.
//
// oidc-provider 9 warns "Unsupported runtime" on Node.js 20 (it targets 22+); the
// features used here work on Node.js 20.

import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`provider.mjs: environment variable ${name} is required`);
    process.exit(2);
  }
  return value;
}

const port = Number.parseInt(requiredEnv('OIDC_PORT'), 10);
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: requiredEnv('OIDC_CLIENT_ID'),
      client_secret: requiredEnv('OIDC_CLIENT_SECRET'),
      redirect_uris: [requiredEnv('OIDC_REDIRECT_URI')],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'profile', 'email'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  // Put the scope-requested claims into the ID Token as well, not only the userinfo response.
  conformIdTokenClaims: false,
  // Confidential clients may, but need not, use PKCE.
  pkce: { required: () => false },
  async findAccount(ctx, login) {
    return {
      accountId: login,
      async claims() {
        return {
          sub: login,
          email: `${login}@example.org`,
          email_verified: true,
          name: `User ${login}`,
          preferred_username: login,
        };
      },
    };
  },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`OIDC-READY ${issuer}`);
});
