//! `tributary sync …`: a client of a running server's API.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Trigger a sync run; with --wait, follow it to the end and print its metrics.
    Trigger {
        bucket_id: String,
        sync_config_id: String,
        /// List every file, not only those modified since the last run.
        #[arg(long)]
        full: bool,
        /// Show progress until the job ends; exit non-zero unless it completed.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// How to reach the server.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Base URL of the server.
    #[arg(
        long,
        env = "TRIBUTARY_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// API key (the admin key is in `<data-dir>/admin.key`).
    #[arg(long, env = "TRIBUTARY_API_KEY", hide_env_values = true)]
    pub api_key: String,
    /// Namespace id or name.
    #[arg(long, env = "TRIBUTARY_NAMESPACE")]
    pub namespace: Option<String>,
}

impl ClientArgs {
    fn request(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let url = format!("{}{path}", self.server.trim_end_matches('/'));
        let mut request = client.request(method, url).bearer_auth(&self.api_key);
        if let Some(ns) = &self.namespace {
            request = request.header("X-Namespace", ns);
        }
        request
    }
}

/// Sends a request and returns the JSON body, turning the API's error
/// envelope into a readable error.
async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<serde_json::Value> {
    let response = request
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the server: {e}"))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let message = body["error"]["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| body.to_string());
    anyhow::bail!("{status}: {message}")
}

impl SyncCommand {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Self::Trigger {
                bucket_id,
                sync_config_id,
                full,
                wait,
                client,
            } => {
                let http = reqwest::Client::new();
                let path = format!(
                    "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/trigger?full_sync={full}"
                );
                let job = send(client.request(&http, reqwest::Method::POST, &path)).await?;
                let job_id = job["sync_job_id"].as_str().unwrap_or_default().to_string();
                println!("sync job {job_id} queued");
                if !wait {
                    return Ok(ExitCode::SUCCESS);
                }
                follow(&http, &client, &job_id).await
            }
        }
    }
}

/// Polls the job until it ends, with a progress spinner.
async fn follow(
    http: &reqwest::Client,
    client: &ClientArgs,
    job_id: &str,
) -> anyhow::Result<ExitCode> {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let job = loop {
        let job = send(client.request(http, reqwest::Method::GET, &format!("/v1/syncs/{job_id}")))
            .await?;
        let m = &job["metrics"];
        bar.set_message(format!(
            "{} · {} files · {} created · {} updated · {} unchanged · {} failed · {} batches",
            job["status"].as_str().unwrap_or("?"),
            m["files_discovered"],
            m["objects_created"],
            m["objects_updated"],
            m["duplicates_skipped"],
            m["files_failed"],
            m["batches_created"],
        ));
        if !matches!(
            job["status"].as_str(),
            Some("PENDING") | Some("IN_PROGRESS")
        ) {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    bar.finish_and_clear();
    let status = job["status"].as_str().unwrap_or("?");
    println!("sync job {job_id}: {status}");
    println!("{}", serde_json::to_string_pretty(&job["metrics"])?);
    if let Some(message) = job["error"]["message"].as_str() {
        println!("error: {message}");
    }
    Ok(match status {
        "COMPLETED" => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}
