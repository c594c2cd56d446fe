//! `berth user …` and `berth policy …`: account and policy management on a stopped registry
//! (with the daemon running, the management API does the same: docs/api.md).

use std::io::BufRead;

use anyhow::Context;
use berth_engine::{AccountName, Accounts, PolicyName};
use clap::{Args, Subcommand};

use crate::ConfigArgs;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create an account (password from --password-stdin or --password).
    Add(UserPassword),
    /// List accounts and their policies.
    List(ConfigOnly),
    /// Delete an account (not `admin`).
    Delete(UserName),
    /// Set an account's password.
    Passwd(UserPassword),
}

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Create a policy from a JSON document file (`-` for stdin).
    Create(PolicyCreate),
    /// Attach a policy to an account.
    Attach(Attachment),
    /// Detach a policy from an account.
    Detach(Attachment),
    /// List policies (built-in and custom) with their documents.
    List(ConfigOnly),
}

#[derive(Args)]
pub struct ConfigOnly {
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Args)]
pub struct UserName {
    name: String,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Args)]
pub struct UserPassword {
    name: String,
    /// Read the password from the first line of standard input.
    #[arg(long, conflicts_with = "password")]
    password_stdin: bool,
    /// The password (visible in the process list: prefer --password-stdin).
    #[arg(long)]
    password: Option<String>,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Args)]
pub struct PolicyCreate {
    name: String,
    /// File holding the policy document; `-` reads standard input.
    document: String,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Args)]
pub struct Attachment {
    user: String,
    policy: String,
    #[command(flatten)]
    config: ConfigArgs,
}

/// Runs `work` on the accounts store of a stopped registry, then closes the store (the same
/// open-and-close as `berth gc|fsck|stats`).
fn with_accounts(
    config: &ConfigArgs,
    work: impl FnOnce(&Accounts) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let config = config.load()?;
    let done = crate::ops::offline(&config, |engine| work(engine.accounts()))?;
    done.ok_or_else(|| {
        anyhow::anyhow!(
            "the registry is running: stop it, or use the management API (/api/v1/users, /api/v1/policies)"
        )
    })
}

fn password(args: &UserPassword) -> anyhow::Result<String> {
    match (&args.password, args.password_stdin) {
        (Some(p), _) => Ok(p.clone()),
        (None, true) => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            Ok(line.trim_end_matches(['\n', '\r']).to_owned())
        }
        (None, false) => anyhow::bail!("give the password with --password-stdin or --password"),
    }
}

pub fn user(command: &UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add(args) => {
            let name = AccountName::parse(&args.name)?;
            let password = password(args)?;
            with_accounts(&args.config, |a| {
                a.add_user(&name, &password)?;
                println!("account {name} created");
                Ok(())
            })
        }
        UserCommand::Passwd(args) => {
            let name = AccountName::parse(&args.name)?;
            let password = password(args)?;
            with_accounts(&args.config, |a| {
                a.set_password(&name, &password)?;
                println!("password of {name} changed");
                Ok(())
            })
        }
        UserCommand::Delete(args) => {
            let name = AccountName::parse(&args.name)?;
            with_accounts(&args.config, |a| {
                futures_lite::future::block_on(a.delete_user(&name))?;
                println!("account {name} deleted");
                Ok(())
            })
        }
        UserCommand::List(args) => with_accounts(&args.config, |a| {
            for user in a.list_users()? {
                println!("{:<32} {}", user.name.as_str(), user.policies.join(","));
            }
            Ok(())
        }),
    }
}

pub fn policy(command: &PolicyCommand) -> anyhow::Result<()> {
    match command {
        PolicyCommand::Create(args) => {
            let name = PolicyName::parse(&args.name)?;
            let document = if args.document == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&args.document)
                    .with_context(|| format!("reading {}", args.document))?
            };
            with_accounts(&args.config, |a| {
                futures_lite::future::block_on(a.create_policy(&name, &document))?;
                println!("policy {name} created");
                Ok(())
            })
        }
        PolicyCommand::Attach(args) | PolicyCommand::Detach(args) => {
            let attach = matches!(command, PolicyCommand::Attach(_));
            let (user, policy) = (
                AccountName::parse(&args.user)?,
                PolicyName::parse(&args.policy)?,
            );
            with_accounts(&args.config, |a| {
                if attach {
                    futures_lite::future::block_on(a.attach(&user, &policy))?;
                    println!("{policy} attached to {user}");
                } else {
                    futures_lite::future::block_on(a.detach(&user, &policy))?;
                    println!("{policy} detached from {user}");
                }
                Ok(())
            })
        }
        PolicyCommand::List(args) => with_accounts(&args.config, |a| {
            for policy in a.list_policies()? {
                let kind = if policy.builtin { "built-in" } else { "custom" };
                println!("{} ({kind}): {}", policy.name.as_str(), policy.document);
            }
            Ok(())
        }),
    }
}
