//! The protected resource (UserInfo): the request as the token is bound, and the
//! resource response checks.

use super::*;

/// One resource request (CallProtectedResource or, with DPoP,
/// CallProtectedResourceAllowingDpopNonceError retried once with the server's nonce).
pub struct ResourceCall {
    pub headers: Vec<(String, String)>,
    pub token_in_query: bool,
    /// Present the certificate: with mTLS-bound tokens (default) or not.
    pub certificate: Option<bool>,
    /// Send the token as DPoP with a proof (default: the variant's).
    pub dpop: Option<bool>,
    pub condition: &'static str,
    pub reqs: &'static [&'static str],
}

impl Default for ResourceCall {
    fn default() -> Self {
        ResourceCall {
            headers: Vec::new(),
            token_in_query: false,
            certificate: None,
            dpop: None,
            condition: "CallProtectedResource",
            reqs: &["FAPI2-SP-FINAL-5.3.4-2"],
        }
    }
}

/// The protected resource: UserInfo for OpenID variants; for plain OAuth, whose tokens carry no
/// `openid`, the configured `resource_url` (`resource.resourceUrl`).
pub(super) fn resource_url(ctx: &Ctx<'_>, f: &Fapi) -> Option<String> {
    match &ctx.cfg.resource_url {
        Some(u) if !f.openid => Some(u.clone()),
        _ => crate::modules::endpoint(ctx, "userinfo_endpoint"),
    }
}

pub async fn call_resource(ctx: &mut Ctx<'_>, f: &mut Fapi, how: &ResourceCall) -> Flow<Resp> {
    let url = resource_url(ctx, f).unwrap_or_default();
    let at = ctx.access_token.clone().unwrap_or_default();
    let use_dpop = how.dpop.unwrap_or(f.dpop);
    let with_cert = how.certificate.unwrap_or(f.mtls_bound);
    let http = if with_cert {
        ctx.back.clone()
    } else {
        ctx.back_without_certificate()
    };
    let mut last = None;
    for attempt in 0..2 {
        let target = if how.token_in_query {
            let mut u = Url::parse(&url).map_err(|_| Stop)?;
            u.query_pairs_mut().append_pair("access_token", &at);
            u.to_string()
        } else {
            url.clone()
        };
        let mut rb = http.get(&target);
        for (k, v) in &how.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if !how.token_in_query {
            let default_scheme = if use_dpop { "DPoP" } else { "Bearer" };
            let scheme = f.token_type.clone().unwrap_or(default_scheme.to_string());
            rb = rb.header("authorization", format!("{scheme} {at}"));
            if use_dpop {
                let proof = make_proof(ctx, f, "GET", &url, Some(&at), true)?;
                ctx.log.info(
                    "AddDpopHeaderForResourceEndpointRequest",
                    "DPoP header added",
                );
                rb = rb.header("DPoP", proof);
            }
        }
        let r = browser::send(rb).await.map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        });
        let cond = if use_dpop && how.condition == "CallProtectedResource" {
            "CallProtectedResourceAllowingDpopNonceError"
        } else {
            how.condition
        };
        let resp = ctx.log.must(cond, how.reqs, r)?;
        let nonce_error = resp.status == 401
            && resp
                .www_authenticate
                .as_deref()
                .is_some_and(|w| w.contains("use_dpop_nonce"));
        if let Some(n) = nonce_of(&resp) {
            f.rs_nonce = Some(n);
        }
        let retry = use_dpop && nonce_error && attempt == 0;
        last = Some(resp);
        if !retry {
            break;
        }
    }
    Ok(last.expect("one attempt"))
}

pub(super) fn status_in(resp: &Resp, ok_range: std::ops::RangeInclusive<u16>, what: &str) -> Check {
    if ok_range.contains(&resp.status) {
        ok(format!(
            "{what} endpoint http status code was {}",
            resp.status
        ))
    } else {
        fail(format!(
            "{what} endpoint returned a different http status than expected ({}, expected {}-{}): {}",
            resp.status,
            ok_range.start(),
            ok_range.end(),
            resp.body.chars().take(200).collect::<String>()
        ))
    }
}

/// CheckForDateHeaderInResourceResponse: a Date within 5 minutes.
pub(super) fn date_header(resp: &Resp) -> Check {
    let Some(d) = resp.headers.get("date") else {
        return fail("Date header not found in resource endpoint response");
    };
    match httpdate_to_unix(d) {
        Some(t) if (t - now()).abs() < 300 => ok(format!("Date header present and validated: {d}")),
        Some(_) => fail(format!("Excessive difference from current time: {d}")),
        None => fail(format!("Invalid date format: {d}")),
    }
}

/// RFC 7231 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to seconds since the epoch.
pub(super) fn httpdate_to_unix(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: i64 = parts[1].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])? as i64
        + 1;
    let year: i64 = parts[3].parse().ok()?;
    let hms: Vec<i64> = parts[4].split(':').filter_map(|x| x.parse().ok()).collect();
    if hms.len() != 3 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

/// The FAPI headers the first client sends to the resource (createDefaultFirstClientResourceHeaders).
pub(super) fn first_client_resource_headers(ctx: &mut Ctx<'_>) -> Vec<(String, String)> {
    let date = {
        let t = std::time::SystemTime::now();
        httpdate(t)
    };
    let interaction = uuid_v4();
    ctx.log.info(
        "AddFAPIAuthDateToResourceEndpointRequest",
        format!("x-fapi-auth-date: {date}"),
    );
    ctx.log.info(
        "AddIpV4FapiCustomerIpAddressToResourceEndpointRequest",
        "x-fapi-customer-ip-address: 198.51.100.119",
    );
    ctx.log
        .info("CreateRandomFAPIInteractionId", interaction.clone());
    ctx.log.info(
        "AddFAPIInteractionIdToResourceEndpointRequest",
        format!("x-fapi-interaction-id: {interaction}"),
    );
    vec![
        ("x-fapi-auth-date".into(), date),
        ("x-fapi-customer-ip-address".into(), "198.51.100.119".into()),
        ("x-fapi-interaction-id".into(), interaction),
    ]
}

pub(super) fn httpdate(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // civil_from_days
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{wd}, {d:02} {mon} {y} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

pub(super) fn uuid_v4() -> String {
    let r = jose::random_value(16);
    let h = jose::sha256_b64(&r);
    let hex: String = h.bytes().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// requestProtectedResource: the resource with the access token, as the token is bound.
pub async fn request_protected_resource(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    ctx.log
        .block(&format!("{}Resource server endpoint tests", f.prefix()));
    ctx.log.must_ok(
        "CreateEmptyResourceEndpointRequestHeaders",
        &[],
        ok("empty headers"),
    )?;
    let headers = if f.second {
        Vec::new()
    } else {
        first_client_resource_headers(ctx)
    };
    let sent_interaction = headers
        .iter()
        .find(|(k, _)| k == "x-fapi-interaction-id")
        .map(|(_, v)| v.clone());
    let resp = call_resource(
        ctx,
        f,
        &ResourceCall {
            headers,
            ..Default::default()
        },
    )
    .await?;
    ctx.log.check(
        "EnsureHttpStatusCodeIs200or201",
        Failure,
        &[],
        status_in(&resp, 200..=201, "resource"),
    );
    ctx.log.check(
        "CheckForDateHeaderInResourceResponse",
        Failure,
        &["RFC7231-7.1.1.2"],
        date_header(&resp),
    );
    if !f.second {
        match resp.headers.get("x-fapi-interaction-id") {
            None => {
                ctx.log.info(
                    "CheckForFAPIInteractionIdInResourceResponse",
                    "skipped: no x-fapi-interaction-id in the response",
                );
            }
            Some(got) => {
                let r = if Some(got) == sent_interaction.as_ref() {
                    ok("x-fapi-interaction-id matches")
                } else {
                    fail(format!("x-fapi-interaction-id {got} is not the one sent"))
                };
                ctx.log.check(
                    "EnsureMatchingFAPIInteractionId",
                    Failure,
                    &["CID-SP-4.2-12", "FAPI2-IMP-2.1.1"],
                    r,
                );
            }
        }
    }
    Ok(())
}
