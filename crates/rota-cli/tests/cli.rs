//! The `rota` binary as its users meet it: errors that name what they are about, roles from a
//! fixed list, clients listed and revoked, and logs without colour codes in a file or a pipe.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing setup should stop the test loudly

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Output, Stdio};

fn rota(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rota"))
        .args(args)
        .env_remove("ROTA_DATABASE_URL")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_database_that_does_not_exist_is_an_error_that_names_it_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.db");
    let url = format!("sqlite://{}", path.display());
    for args in [
        vec![
            "clients",
            "create",
            "--role",
            "admin",
            "--database-url",
            &url,
        ],
        vec!["clients", "list", "--database-url", &url],
        vec!["users", "link", "--username", "ana", "--database-url", &url],
    ] {
        let out = rota(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr(&out).contains("typo.db"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!path.exists(), "{args:?} created the database");
    }
}

#[test]
fn roles_are_a_fixed_list_and_clients_are_listed_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/rota.db", dir.path().display());
    let seeded = rota(&["seed", "--agents", "5", "--database-url", &url]);
    assert!(seeded.status.success(), "{}", stderr(&seeded));

    let boss = rota(&[
        "clients",
        "create",
        "--role",
        "boss",
        "--database-url",
        &url,
    ]);
    assert!(!boss.status.success());
    assert!(
        stderr(&boss).contains("possible values: admin, supervisor, integration, agent"),
        "{}",
        stderr(&boss)
    );

    let created = rota(&[
        "clients",
        "create",
        "--role",
        "supervisor",
        "--database-url",
        &url,
    ]);
    assert!(created.status.success(), "{}", stderr(&created));
    let client: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let id = client["clientId"].as_str().unwrap().to_owned();
    let secret = client["clientSecret"].as_str().unwrap().to_owned();

    let listed = rota(&["clients", "list", "--database-url", &url]);
    let text = String::from_utf8(listed.stdout).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(line["clientId"], id.as_str());
    assert_eq!(line["role"], "supervisor");
    assert!(!text.contains(&secret), "the listing shows a secret");

    let revoke = || {
        rota(&[
            "clients",
            "revoke",
            "--client-id",
            &id,
            "--database-url",
            &url,
        ])
    };
    let revoked = revoke();
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    let listed = rota(&["clients", "list", "--database-url", &url]);
    assert!(listed.stdout.is_empty());
    let again = revoke();
    assert!(!again.status.success());
    assert!(stderr(&again).contains(&id), "{}", stderr(&again));
}

#[test]
fn serve_names_an_address_in_use_and_logs_to_a_pipe_without_colour() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/rota.db", dir.path().display());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = rota(&[
        "serve",
        "--create",
        "--database-url",
        &url,
        "--listen",
        &address,
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("cannot listen on {address}")),
        "{}",
        stderr(&out)
    );
    drop(taken);

    let mut child = Command::new(env!("CARGO_BIN_EXE_rota"))
        .args([
            "serve",
            "--create",
            "--database-url",
            &url,
            "--listen",
            "127.0.0.1:0",
        ])
        .env_remove("NO_COLOR")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.starts_with("rota listening on http://"))
        .unwrap();
    let addr = listening.trim_start_matches("rota listening on http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: rota\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let logged = lines
        .map(Result::unwrap)
        .find(|l| l.contains("/healthz"))
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !logged.contains('\u{1b}'),
        "colour codes in a pipe: {logged:?}"
    );
}

#[test]
fn portal_users_for_a_second_unit_take_its_name_where_the_first_units_are_taken() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/rota.db", dir.path().display());
    let chicago = rota(&[
        "seed",
        "--agents",
        "5",
        "--portal-users",
        "--database-url",
        &url,
    ]);
    assert!(chicago.status.success(), "{}", stderr(&chicago));
    assert!(
        stderr(&chicago).contains("  supervisor "),
        "{}",
        stderr(&chicago)
    );
    let dallas = rota(&[
        "seed",
        "--agents",
        "5",
        "--seed",
        "2",
        "--business-unit",
        "Dallas North",
        "--portal-users",
        "--database-url",
        &url,
    ]);
    let said = stderr(&dallas);
    assert!(dallas.status.success(), "{said}");
    for username in [
        "supervisor.dallas-north",
        "agent1.dallas-north",
        "agent2.dallas-north",
    ] {
        assert!(said.contains(username), "{username}: {said}");
    }
    // A third time with the same names: one line that says why, no stack trace.
    let again = rota(&[
        "seed",
        "--agents",
        "5",
        "--seed",
        "3",
        "--business-unit",
        "Dallas North",
        "--portal-users",
        "--database-url",
        &url,
    ]);
    let said = stderr(&again);
    assert!(!again.status.success(), "{said}");
    assert!(said.contains("error: ") && said.contains("taken"), "{said}");
    assert!(
        !said.contains("Stack backtrace") && !said.contains("Caused by"),
        "{said}"
    );
}
