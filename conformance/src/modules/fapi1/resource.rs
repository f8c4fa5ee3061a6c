//! The resource (the UserInfo endpoint) called with the FAPI headers.

use super::*;

/// What the resource answered.
pub(super) struct ResourceResp {
    pub(super) status: u16,
    pub(super) content_type: String,
    pub(super) date: Option<String>,
    pub(super) interaction_id: Option<String>,
    pub(super) body: String,
}

/// How to call the resource.
#[derive(Default)]
pub(super) struct ResourceCall {
    /// The first client adds x-fapi-auth-date and x-fapi-customer-ip-address.
    pub(super) fapi_headers: bool,
    ipv6: bool,
    pub(super) token_in_query: bool,
    pub(super) accept: Option<&'static str>,
    pub(super) accept_charset: bool,
}

/// CallProtectedResource: the access token (with its token_type) at the UserInfo endpoint,
/// over the current client's TLS connection.
pub(super) async fn call_resource(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    back: &reqwest::Client,
    token: &str,
    how: &ResourceCall,
) -> Result<ResourceResp, String> {
    let url = endpoint(ctx, "userinfo_endpoint").ok_or("no userinfo_endpoint")?;
    let mut url = Url::parse(&url).map_err(|e| e.to_string())?;
    let mut rb;
    if how.token_in_query {
        url.query_pairs_mut().append_pair("access_token", token);
        rb = back.get(url);
    } else {
        rb = back
            .get(url)
            .header("authorization", format!("{} {token}", f.token_type));
    }
    if how.fapi_headers {
        let date = httpdate_now();
        rb = rb.header("x-fapi-auth-date", date).header(
            "x-fapi-customer-ip-address",
            if how.ipv6 {
                "2001:db8::1"
            } else {
                "198.51.100.119"
            },
        );
    }
    f.interaction_id = uuid_v4();
    rb = rb.header("x-fapi-interaction-id", f.interaction_id.clone());
    if let Some(a) = how.accept {
        rb = rb.header("accept", a);
    }
    if how.accept_charset {
        rb = rb.header("accept-charset", "UTF-8");
    }
    let res = rb
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let header = |n: &str| {
        res.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let status = res.status().as_u16();
    let content_type = header("content-type").unwrap_or_default();
    let date = header("date");
    let interaction_id = header("x-fapi-interaction-id");
    let body = res.text().await.unwrap_or_default();
    Ok(ResourceResp {
        status,
        content_type,
        date,
        interaction_id,
        body,
    })
}

/// An RFC 1123 date for x-fapi-auth-date.
pub(super) fn httpdate_now() -> String {
    let secs = now();
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{weekday}, {d:02} {month} {y} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Seconds since the epoch of an RFC 1123 date (`Sun, 06 Dec 2026 01:02:03 GMT`).
pub(super) fn parse_httpdate(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let d: i64 = parts[1].parse().ok()?;
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = months.iter().position(|x| *x == parts[2])? as i64 + 1;
    let y: i64 = parts[3].parse().ok()?;
    let hms: Vec<i64> = parts[4].split(':').filter_map(|x| x.parse().ok()).collect();
    if hms.len() != 3 {
        return None;
    }
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

pub(super) fn uuid_v4() -> String {
    let r = jose::random_value(16);
    let mut b = URL_SAFE_NO_PAD.decode(r).unwrap_or(vec![0; 16]);
    b.resize(16, 0);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub(super) fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

pub(super) fn ensure_2xx(ctx: &mut Ctx<'_>, r: &ResourceResp, reqs: &[&str]) {
    let ok = r.status == 200 || r.status == 201;
    ctx.log.check(
        "EnsureHttpStatusCodeIs200or201",
        Failure,
        reqs,
        if ok {
            Ok(format!("HTTP {}", r.status))
        } else {
            Err(format!(
                "resource endpoint returned HTTP {}: {}",
                r.status,
                r.body.chars().take(200).collect::<String>()
            ))
        },
    );
}

pub(super) fn ensure_4xx(ctx: &mut Ctx<'_>, status: u16, severity: Outcome, reqs: &[&str]) {
    ctx.log.check(
        "EnsureHttpStatusCodeIs4xx",
        severity,
        reqs,
        if (400..500).contains(&status) {
            Ok(format!("endpoint http status code was {status}"))
        } else {
            Err(format!(
                "endpoint returned a different http status than expected: {status}, expected 400 to 499"
            ))
        },
    );
}

/// requestProtectedResource (with FAPI1AdvancedFinal's extra calls for the first client when
/// `extra`).
pub(super) async fn request_protected_resource(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    extra: bool,
) -> Flow {
    ctx.log
        .block(&format!("{}Resource server endpoint tests", f.who()));
    let token = ctx.access_token.clone().unwrap_or_default();
    let back = ctx.back.clone();
    let first = !f.second;
    ctx.log.must_ok(
        "CreateEmptyResourceEndpointRequestHeaders",
        &[],
        Ok("headers".into()),
    )?;
    if first {
        ctx.log.must_ok(
            "AddFAPIAuthDateToResourceEndpointRequest",
            &["FAPI1-BASE-6.2.2-3"],
            Ok("x-fapi-auth-date".into()),
        )?;
        ctx.log.must_ok(
            "AddIpV4FapiCustomerIpAddressToResourceEndpointRequest",
            &["FAPI1-BASE-6.2.2-4"],
            Ok("x-fapi-customer-ip-address".into()),
        )?;
    }
    ctx.log.must_ok(
        "AddFAPIInteractionIdToResourceEndpointRequest",
        &["FAPI1-BASE-6.2.2-5"],
        Ok("x-fapi-interaction-id".into()),
    )?;
    let how = ResourceCall {
        fapi_headers: first,
        ..Default::default()
    };
    let r = call_resource(ctx, f, &back, &token, &how).await.map(|x| {
        let s = format!("HTTP {}", x.status);
        (x, s)
    });
    let res = ctx.log.must(
        "CallProtectedResource",
        &["FAPI1-BASE-6.2.1-1", "FAPI1-BASE-6.2.1-3"],
        r,
    )?;
    ensure_2xx(ctx, &res, &[]);
    let r = match res.date.as_deref() {
        None => Err("Date header not found in resource endpoint response".to_string()),
        Some(d) => match parse_httpdate(d) {
            None => Err(format!("Invalid date format: {d}")),
            Some(t) if (t - now()).abs() < 300 => {
                Ok(format!("Date header present and validated: {d}"))
            }
            Some(_) => Err(format!("Excessive difference from current time: {d}")),
        },
    };
    ctx.log.check(
        "CheckForDateHeaderInResourceResponse",
        Failure,
        &["FAPI1-BASE-6.2.1-10"],
        r,
    );
    let r = match res.interaction_id.as_deref() {
        None => {
            Err("x-fapi-interaction-id not found in resource endpoint response headers".to_string())
        }
        Some(i) if is_uuid(i) => Ok(format!("Found x-fapi-interaction-id {i}")),
        Some(i) => Err(format!("Invalid x-fapi-interaction-id - not a UUID: {i}")),
    };
    ctx.log.check(
        "CheckForFAPIInteractionIdInResourceResponse",
        Failure,
        &["FAPI1-BASE-6.2.1-11"],
        r,
    );
    if first {
        let r = match res.interaction_id.as_deref() {
            Some(i) if i.eq_ignore_ascii_case(&f.interaction_id) => {
                Ok("Interaction ID matches, ignoring case".into())
            }
            other => Err(format!(
                "Mismatch between interaction IDs: expected {}, actual {other:?}",
                f.interaction_id
            )),
        };
        ctx.log.check(
            "EnsureMatchingFAPIInteractionId",
            Failure,
            &["FAPI1-BASE-6.2.1-11"],
            r,
        );
    }
    let r = if res
        .content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().ends_with("/json") || t.trim().ends_with("+json"))
    {
        Ok(format!("Content-Type {}", res.content_type))
    } else {
        Err(format!(
            "the resource's Content-Type is '{}', not json",
            res.content_type
        ))
    };
    ctx.log.check(
        "EnsureResourceResponseReturnedJsonContentType",
        Failure,
        &["FAPI1-BASE-6.2.1-9", "FAPI1-BASE-6.2.1-10"],
        r,
    );
    if extra && first {
        verify_access_token_with_resource_endpoint(ctx, f, &back, &token).await?;
    }
    Ok(())
}

/// FAPI1AdvancedFinal.verifyAccessTokenWithResourceEndpoint.
pub(super) async fn verify_access_token_with_resource_endpoint(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    back: &reqwest::Client,
    token: &str,
) -> Flow {
    let how = ResourceCall {
        fapi_headers: true,
        token_in_query: true,
        ..Default::default()
    };
    let r = match call_resource(ctx, f, back, token, &how).await {
        Err(e) => Err(e),
        Ok(x) if x.status == 400 || x.status == 401 || x.status == 414 => {
            Ok(format!("Resource server refused request: HTTP {}", x.status))
        }
        Ok(x) if x.status < 300 => Err("Got a successful response from the resource endpoint. An access denied error was expected, as the access token was supplied only in the URL query.".into()),
        Ok(x) => Err(format!("unexpected HTTP {} from the resource endpoint", x.status)),
    };
    ctx.log.check(
        "DisallowAccessTokenInQuery",
        Failure,
        &["FAPI1-BASE-6.2.1-4"],
        r,
    );
    ctx.log.must_ok(
        "AddIpV6FapiCustomerIpAddressToResourceEndpointRequest",
        &["FAPI1-BASE-6.2.2-4"],
        Ok("x-fapi-customer-ip-address 2001:db8::1".into()),
    )?;
    ctx.log.must_ok(
        "SetUtf8JsonAcceptHeadersForResourceEndpointRequest",
        &[],
        Ok("Accept: application/json;charset=UTF-8".into()),
    )?;
    let how = ResourceCall {
        fapi_headers: true,
        ipv6: true,
        accept: Some("application/json;charset=UTF-8"),
        accept_charset: true,
        ..Default::default()
    };
    let r = call_resource(ctx, f, back, token, &how).await.map(|x| {
        let s = format!("HTTP {}", x.status);
        (x, s)
    });
    let res = ctx
        .log
        .must("CallProtectedResource", &["RFC7231-5.3.2"], r)?;
    ensure_2xx(ctx, &res, &[]);
    ctx.log.must_ok(
        "SetPermissiveAcceptHeaderForResourceEndpointRequest",
        &[],
        Ok("Accept: application/json, application/*+json, */*".into()),
    )?;
    let how = ResourceCall {
        fapi_headers: true,
        ipv6: true,
        accept: Some("application/json, application/*+json, */*"),
        ..Default::default()
    };
    let r = call_resource(ctx, f, back, token, &how).await.map(|x| {
        let s = format!("HTTP {}", x.status);
        (x, s)
    });
    let res = ctx
        .log
        .must("CallProtectedResource", &["RFC7231-5.3.2"], r)?;
    ensure_2xx(ctx, &res, &[]);
    Ok(())
}

/// switchToClient1AndTryClient2AccessToken: the second client's token over the first client's
/// TLS connection must be refused (RFC 8705 §3).
pub(super) async fn try_client2_token_with_client1_certificate(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
) -> Flow {
    ctx.log
        .block("Try Client1's MTLS client certificate with Client2's access token");
    let token = ctx.access_token.clone().unwrap_or_default();
    let one = f.one.clone();
    use_party(ctx, &one);
    f.second = false;
    let r = call_resource(ctx, f, &one.back, &token, &ResourceCall::default())
        .await
        .map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        });
    let res = ctx
        .log
        .must("CallProtectedResource", &["FAPIRW-5.2.2-5", "RFC8705-3"], r)?;
    ensure_4xx(
        ctx,
        res.status,
        Failure,
        &["RFC6749-4.1.2", "RFC6750-3.1", "RFC8705-3"],
    );
    Ok(())
}
