//! `register`, `login`, `logout`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use super::Context;
use crate::cli::api::Api;
use crate::cli::error::{Error, Result};

/// `register --name N --email E`: creates the user on the server.
pub(super) async fn register(
    context: &mut Context,
    name: &str,
    email: &str,
    password: Option<String>,
) -> Result<()> {
    let password = password_or_stdin(password)?;
    let user = context.api()?.register(name, email, &password).await?;
    println!("registered {} <{}> ({})", user.name, user.email, user.uuid);
    eprintln!("log in with `finwise-cli login {}`", user.name);
    Ok(())
}

/// `login USER`: keeps the server, the user and the session token in the profile. A
/// login as another user, or on another server, forgets the current tenant.
pub(super) async fn login(
    context: &mut Context,
    user: &str,
    password: Option<String>,
) -> Result<()> {
    let password = password_or_stdin(password)?;
    let api = Api::new(&context.server, None, context.timeout)?;
    let logged_in = api.login(user, &password).await?;
    let saved = &mut context.profile.saved;
    let same_user = saved.user.as_ref().map(|user| &user.uuid) == Some(&logged_in.user.uuid);
    let same_server = saved.server.as_deref() == Some(context.server.as_str());
    if !(same_user && same_server) {
        saved.tenant = None;
    }
    saved.server = Some(context.server.clone());
    saved.token = Some(logged_in.access_token);
    saved.user = Some(logged_in.user.clone());
    context.profile.save()?;
    println!(
        "logged in as {} <{}> on {}",
        logged_in.user.name, logged_in.user.email, context.server
    );
    match &context.profile.saved.tenant {
        Some(tenant) => eprintln!("current tenant: {}", context.profile.tenant_label(tenant)),
        None => eprintln!(
            "next: `finwise-cli tenant list`, then `finwise-cli tenant use ID|NAME` (or `tenant create NAME`)"
        ),
    }
    Ok(())
}

/// `logout`: forgets the token; the replicas and their unsent changes stay.
pub(super) fn logout(context: &mut Context) -> Result<()> {
    let was_logged_in = context.profile.saved.token.take().is_some();
    context.profile.save()?;
    if was_logged_in {
        println!("logged out");
    } else {
        println!("not logged in");
    }
    Ok(())
}

/// The password given, else read from the terminal without echo (prompted for), else
/// the first line of standard input.
fn password_or_stdin(password: Option<String>) -> Result<String> {
    let password = match password {
        Some(password) => password,
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                let _ = std::io::stderr().flush();
                return non_empty_password(rpassword::prompt_password("password: ").map_err(
                    |error| Error::Usage(format!("cannot read the password: {error}")),
                )?);
            }
            let mut line = String::new();
            stdin
                .lock()
                .read_line(&mut line)
                .map_err(|error| Error::Usage(format!("cannot read the password: {error}")))?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    non_empty_password(password)
}

fn non_empty_password(password: String) -> Result<String> {
    if password.is_empty() {
        return Err(Error::Usage(
            "no password: pass --password, set FINWISE_PASSWORD or type it on standard input"
                .to_owned(),
        ));
    }
    Ok(password)
}
