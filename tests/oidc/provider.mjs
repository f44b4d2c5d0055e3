// A real OpenID Connect provider (panva's oidc-provider) on 127.0.0.1 for the web app's login tests.
// Its development login form accepts any name with any password; the name becomes the subject, and
// NAME@example.test the email, verified unless the name starts with "unverified-"; a name starting with
// "silent-" gets no email_verified claim at all, as Entra ID sends none by default.
// Usage: node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
import Provider from "oidc-provider";

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: [redirectUri] }],
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        const claims = { sub: id, email: `${id}@example.test`, name: id };
        return id.startsWith("silent-") ? claims : { ...claims, email_verified: !id.startsWith("unverified-") };
      },
    };
  },
  conformIdTokenClaims: false, // the email in the ID token, as most providers send it (Streamlit reads that token)
  pkce: { required: () => false },
  cookies: { keys: ["tests-only-cookie-key"] },
  features: { devInteractions: { enabled: true } },
});
provider.listen(Number(port), "127.0.0.1", () => console.log(`oidc-provider on 127.0.0.1:${port}`));
