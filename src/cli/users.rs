//! `consentry users add`: a local user, its password read from standard input.

use super::clients::refused;
use super::{json_arg, now, open_store, DataDir};
use clap::Subcommand;
use consentry::protocol::login::new_local_user;
use consentry::store;
use std::io::Read;

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Add a local user; the password is read from standard input.
    Add {
        #[command(flatten)]
        dir: DataDir,
        #[arg(long)]
        username: String,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Standard claims (OpenID Connect Core 5.1) as a JSON object, e.g.
        /// '{"given_name": "Ada", "address": {"country": "GB"}}'; --email and --name win.
        #[arg(long)]
        claims: Option<String>,
    },
}

pub async fn users(cmd: UsersCommand) -> anyhow::Result<()> {
    let UsersCommand::Add {
        dir,
        username,
        password_stdin: _,
        email,
        name,
        claims,
    } = cmd;
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']).to_string();
    let mut claims = match claims {
        None => serde_json::json!({}),
        Some(text) => json_arg("--claims", &text)?,
    };
    // --email and --name win, and are checked with the rest.
    if let Some(claims) = claims.as_object_mut() {
        if let Some(e) = email {
            claims.insert("email".into(), e.into());
            claims
                .entry("email_verified")
                .or_insert_with(|| false.into());
        }
        if let Some(n) = name {
            claims.insert("name".into(), n.into());
        }
    }
    let user = new_local_user(&username, &password, &claims, now()).map_err(refused)?;
    let id = user.id.clone();
    let store = open_store(&dir)?;
    store
        .write(move |tx| tx.users().insert(&user))
        .await
        .map_err(|e| match e {
            store::StoreError::Conflict => anyhow::anyhow!("username {username} is taken"),
            e => e.into(),
        })?;
    println!("{}", serde_json::json!({ "user_id": id }));
    Ok(())
}
