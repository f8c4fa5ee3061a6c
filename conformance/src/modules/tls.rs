//! The suite's "... endpoint TLS test" blocks of the FAPI holder-of-key modules.

use super::{endpoint, Ctx};

/// The start of the holder-of-key modules of both FAPI plans (ExtractTLSTestValuesFromServerConfiguration
/// and the "... endpoint TLS test" blocks): every endpoint the server configuration names, at
/// the address the client uses (its mTLS alias where it has one).
pub async fn probe_server_endpoints(ctx: &mut Ctx<'_>, ciphers: crate::tls_probe::Ciphers) {
    use crate::tls_probe::{endpoint_block, Ciphers};
    let (reqs, insecure): (&[&str], &str) = match ciphers {
        Ciphers::Fapi1 => (&["FAPI1-ADV-8.5-2"], "DisallowInsecureCipher"),
        Ciphers::Bcp195 => (
            &["FAPI2-SP-FINAL-5.2.3-2", "FAPI2-SP-FINAL-5.2.2"],
            "RequireOnlyBCP195RecommendedCiphersForTLS12",
        ),
    };
    let fapi2 = ciphers == Ciphers::Bcp195;
    // (block, endpoint, the insecure-cipher check, the BCP 195 DHE warning); additional
    // ciphers are allowed on the authorization endpoint.
    let blocks = [
        (
            "Authorization endpoint TLS test",
            "authorization_endpoint",
            false,
            false,
        ),
        ("Token Endpoint TLS test", "token_endpoint", true, true),
        (
            "Userinfo Endpoint TLS test",
            "userinfo_endpoint",
            true,
            false,
        ),
        (
            "Registration Endpoint TLS test",
            "registration_endpoint",
            true,
            false,
        ),
    ];
    let mut blocks = blocks.to_vec();
    if fapi2 {
        // FAPI2SPFinalEnsureHolderOfKeyRequired probes the token endpoint after UserInfo.
        blocks.swap(1, 2);
    }
    for (block, name, insecure_check, warning) in blocks {
        let url = endpoint(ctx, name);
        endpoint_block(
            &mut ctx.log,
            block,
            url,
            ciphers,
            reqs,
            insecure_check.then_some(insecure),
            warning,
        )
        .await;
    }
}
