//! `steward user add|passwd|list|remove`: the region's users from the command line,
//! straight against the region database. Passwords come from standard input
//! (`--password-stdin`) or are generated and printed once; they are never arguments
//! (which other users of the machine could read from the process list).

use std::io::{BufRead, Read};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};

use super::table::Table;
use crate::auth::directory::{self, NewUser};
use crate::auth::secret::{check_password, hash_password, random_text};
use crate::settings::Settings;

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Add a user. Without --password-stdin a password is generated and printed once.
    Add {
        userid: String,
        /// Group(s) the user belongs to (admin, operator, viewer, or one created later);
        /// the first is the user's current group.
        #[arg(long = "group", default_value = "viewer")]
        groups: Vec<String>,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "")]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (and lift a lockout).
    Passwd {
        userid: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users with their groups.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a user (and their tokens).
    Remove { userid: String },
}

pub(super) fn run(settings: Settings, command: UserCommand) -> anyhow::Result<()> {
    let db = super::region_db::open_existing(&settings)?;
    db.with_conn(directory::ensure_defaults)
        .context("creating the default groups")?;
    match command {
        UserCommand::Add {
            userid,
            groups,
            name,
            email,
            password_stdin,
        } => {
            directory::check_userid(&userid)?;
            let (password, generated) = password(password_stdin)?;
            let hash = hash_password(&password).map_err(anyhow::Error::msg)?;
            let user = db.with_conn(|c| {
                directory::create_user(
                    c,
                    &NewUser {
                        userid: &userid,
                        name: &name,
                        email: &email,
                        groups: &groups,
                        password_hash: &hash,
                    },
                )
            })?;
            println!("added user {} in {}", user.userid, user.groups.join(", "));
            if generated {
                println!("password: {}", password.expose_secret());
            }
        }
        UserCommand::Passwd {
            userid,
            password_stdin,
        } => {
            let (password, generated) = password(password_stdin)?;
            let hash = hash_password(&password).map_err(anyhow::Error::msg)?;
            db.with_conn(|c| directory::set_password(c, &userid, &hash))?;
            println!("password of {userid} changed");
            if generated {
                println!("password: {}", password.expose_secret());
            }
        }
        UserCommand::List { json } => {
            let users = db.with_conn(directory::list_users)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                let mut table =
                    Table::new(&["USERID", "NAME", "GROUPS", "LAST LOGIN", "LOCKED UNTIL"]);
                for u in &users {
                    table.row(vec![
                        u.userid.clone(),
                        u.name.clone(),
                        u.groups.join(","),
                        u.last_login_on
                            .map(|t| crate::json::format_utc(&t))
                            .unwrap_or_else(|| "-".into()),
                        u.locked_until
                            .map(|t| crate::json::format_utc(&t))
                            .unwrap_or_else(|| "-".into()),
                    ]);
                }
                print!("{}", table.render(""));
            }
        }
        UserCommand::Remove { userid } => {
            db.with_conn(|c| directory::remove_user(c, &userid))?;
            println!("removed user {userid}");
        }
    }
    Ok(())
}

/// The password to set: from standard input, or generated (and then `true`).
fn password(from_stdin: bool) -> anyhow::Result<(SecretString, bool)> {
    if !from_stdin {
        let text = random_text(18).map_err(anyhow::Error::msg)?;
        return Ok((SecretString::from(text), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(crate::auth::secret::MAX_PASSWORD_BYTES as u64 + 2)
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = SecretString::from(line.trim_end_matches(['\r', '\n']).to_string());
    check_password(&password).map_err(anyhow::Error::msg)?;
    Ok((password, false))
}
