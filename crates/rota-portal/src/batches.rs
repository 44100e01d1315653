//! A supervisor's bulk swap batch from an uploaded file (CSV, JSON or JSON Lines, as `rota
//! batch` reads it): every row checked first, then run by the same runner as `rota batch`
//! (`rota_client::batch::BatchRunner`: stale-intent checks, idempotency keys, retries with
//! full jitter), against this node's own API as the person who started it. Progress and the
//! per-swap report are written to the database after every chunk, so the page that follows
//! the batch, and the report's download, work on any node.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::Router;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use jiff::civil::Date;
use rota_app::batches::BatchRun;
use rota_client::batch::{BatchItem, BatchRunner};
use rota_client::batch_input::{InputFormat, parse};
use rota_client::retry::{Retrier, RetryBudget, RetryPolicy};
use rota_core::auth::Action;
use rota_core::directory::BusinessUnit;
use rota_core::ids::{BatchRunId, BusinessUnitId, ScheduleId};
use rota_core::store::{PageRequest, ScheduleStore};

use super::agent::asked_week;
use super::view::{self, Chrome};
use super::{OrPage, PageResult, PortalError, Visitor, render};
use crate::PortalState;
use rota_app::batches;

/// Swaps per request, as the user's `batch_size`.
const CHUNK: usize = 50;
/// The most swaps one upload may hold (a weekly batch of a large unit is about 20,000).
const MAX_SWAPS: usize = 100_000;
/// How long the runner's token lives: longer than any batch the cap allows at the rate limit.
const TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

pub fn router() -> Router<PortalState> {
    Router::new()
        .route("/portal/units/{bu}/batches", get(list).post(upload))
        .route("/portal/units/{bu}/batches/{id}", get(progress))
        .route("/portal/units/{bu}/batches/{id}/status", get(status))
        .route("/portal/units/{bu}/batches/{id}/report.jsonl", get(report))
}

/// The business unit of the path, when the visitor may do this page's work there.
async fn unit(
    state: &PortalState,
    visitor: &Visitor,
    raw: &str,
) -> Result<BusinessUnit, PortalError> {
    super::unit(state, visitor, raw, Action::BulkSwap).await
}

/// A run as a row of the list, or the progress page's figures.
struct RunRow {
    id: BatchRunId,
    source: String,
    started_by: String,
    at: String,
    total: u32,
    done: u32,
    percent: u32,
    counts: Vec<(String, u32)>,
    finished: bool,
    detail: String,
}

fn row(run: &BatchRun, bu: &BusinessUnit) -> RunRow {
    RunRow {
        id: run.id,
        source: run.source.clone(),
        started_by: run.started_by.clone(),
        at: view::when(run.created_at, &bu.time_zone),
        total: run.total,
        done: run.done,
        percent: (u64::from(run.done) * 100)
            .checked_div(u64::from(run.total))
            .map_or(100, |p| u32::try_from(p).unwrap_or(100)),
        counts: run.counts.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        finished: run.finished,
        detail: run.detail.clone().unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "portal/batches.html")]
struct ListPage {
    chrome: Chrome,
    csrf: String,
    bu: BusinessUnitId,
    week: String,
    runs: Vec<RunRow>,
    problem: Vec<String>,
}

async fn list_page(
    state: &PortalState,
    visitor: &Visitor,
    bu: &BusinessUnit,
    problem: Vec<String>,
    status: StatusCode,
) -> PageResult {
    let runs = batches::list(&state.app, bu.id, PageRequest::new(0, 50))
        .await
        .or_page(visitor)?;
    Ok(render(
        status,
        &ListPage {
            chrome: visitor.chrome("Bulk swap batches"),
            csrf: visitor.session.csrf_token.clone(),
            bu: bu.id,
            week: asked_week(state, bu, None).to_string(),
            runs: runs.items.iter().map(|r| row(r, bu)).collect(),
            problem,
        },
    ))
}

async fn list(
    State(state): State<PortalState>,
    visitor: Visitor,
    Path(bu): Path<String>,
) -> PageResult {
    let bu = unit(&state, &visitor, &bu).await?;
    list_page(&state, &visitor, &bu, Vec::new(), StatusCode::OK).await
}

/// The upload's fields.
#[derive(Default)]
struct Upload {
    csrf: String,
    week: String,
    name: String,
    text: String,
}

async fn read_upload(mut multipart: Multipart) -> Result<Upload, String> {
    let mut upload = Upload::default();
    while let Some(field) = multipart.next_field().await.map_err(|e| e.to_string())? {
        match field.name().unwrap_or_default() {
            "csrf" => upload.csrf = field.text().await.map_err(|e| e.to_string())?,
            "week" => upload.week = field.text().await.map_err(|e| e.to_string())?,
            "file" => {
                upload.name = field.file_name().unwrap_or("swaps.csv").to_owned();
                let bytes = field.bytes().await.map_err(|e| e.to_string())?;
                upload.text = String::from_utf8(bytes.to_vec())
                    .map_err(|_| "the file is not UTF-8 text".to_owned())?;
            }
            _ => {}
        }
    }
    Ok(upload)
}

async fn upload(
    State(state): State<PortalState>,
    visitor: Visitor,
    Path(bu): Path<String>,
    headers: HeaderMap,
    multipart: Multipart,
) -> PageResult {
    let refused = |detail: &str| {
        PortalError::page(
            &visitor,
            StatusCode::FORBIDDEN,
            "This form was refused",
            detail.to_owned(),
        )
    };
    if !super::same_origin(&headers) {
        return Err(refused("the form came from another site"));
    }
    let upload = read_upload(multipart).await;
    // The token is checked before anything of the upload is looked at.
    let upload = match upload {
        Ok(u) if rota_app::secrets::same_secret(&u.csrf, &visitor.session.csrf_token) => u,
        Ok(_) => {
            return Err(refused(
                "the form's security token is missing or out of date; reload the page and try again",
            ));
        }
        Err(e) => return Err(refused(&format!("the upload could not be read: {e}"))),
    };
    let bu = unit(&state, &visitor, &bu).await?;
    let mut problems = Vec::new();
    let week: Option<Date> = upload.week.trim().parse().ok();
    let schedule = match week {
        Some(week) => state
            .app
            .store()
            .find_schedule(bu.id, asked_week(&state, &bu, Some(&week.to_string())))
            .await
            .or_page(&visitor)?,
        None => None,
    };
    if schedule.is_none() {
        problems.push(format!(
            "no schedule for the week of `{}`",
            upload.week.trim()
        ));
    }
    let items = match parse(&upload.text, InputFormat::of_name(&upload.name)) {
        Ok(items) if items.is_empty() => {
            problems.push("the file holds no swaps".into());
            Vec::new()
        }
        Ok(items) if items.len() > MAX_SWAPS => {
            problems.push(format!("at most {MAX_SWAPS} swaps per batch"));
            Vec::new()
        }
        Ok(items) => items,
        Err(e) => {
            problems.extend(e.0);
            Vec::new()
        }
    };
    let Some(schedule) = schedule.filter(|_| problems.is_empty()) else {
        return list_page(
            &state,
            &visitor,
            &bu,
            problems,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let run = batches::start(
        &state.app,
        &visitor.caller,
        schedule.id,
        &upload.name,
        items.len(),
    )
    .await
    .or_page(&visitor)?;
    let token = state
        .app
        .mint_token(&visitor.caller.0, TOKEN_TTL)
        .await
        .or_page(&visitor)?;
    let planned = schedule.version_id().to_string();
    tokio::spawn(run_batch(
        state.clone(),
        run.id,
        schedule.id,
        planned,
        items,
        token,
    ));
    Ok(Redirect::to(&format!("/portal/units/{}/batches/{}", bu.id, run.id)).into_response())
}

/// Runs the batch chunk by chunk, recording each chunk's report lines as they come.
async fn run_batch(
    state: PortalState,
    id: BatchRunId,
    schedule_id: ScheduleId,
    planned: String,
    items: Vec<BatchItem>,
    token: String,
) {
    let mut runner = BatchRunner {
        client: rota_client::Client::new(&state.own_url).with_bearer(&token),
        batch_id: format!("portal-{id}"),
        schedule_id,
        batch_size: CHUNK,
        effective_date: None,
        planned_version: Some(planned),
        retrier: Retrier::new(RetryPolicy::default(), None),
        budget: Arc::new(Mutex::new(RetryBudget::default())),
        stats: Default::default(),
    };
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    let mut done = 0u32;
    let mut detail = None;
    for (chunk_no, chunk) in items.chunks(CHUNK).enumerate() {
        let reports = runner.run_chunk(chunk_no, chunk).await;
        let mut lines = String::new();
        for report in &reports {
            let status = serde_json::to_value(report.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            *counts.entry(status).or_default() += 1;
            if let Ok(line) = serde_json::to_string(report) {
                lines.push_str(&line);
                lines.push('\n');
            }
        }
        done = done.saturating_add(u32::try_from(reports.len()).unwrap_or(u32::MAX));
        if let Err(e) = batches::record_progress(&state.app, id, &lines, done, &counts).await {
            tracing::error!(batch_run = %id, error = %e, "recording a batch's progress failed");
            detail = Some(format!("stopped: its progress could not be recorded ({e})"));
            break;
        }
    }
    if let Err(e) = batches::finish(&state.app, id, detail.as_deref()).await {
        tracing::error!(batch_run = %id, error = %e, "finishing a batch run failed");
    }
}

#[derive(Template)]
#[template(path = "portal/batch.html")]
struct ProgressPage {
    chrome: Chrome,
    bu: BusinessUnitId,
    run: RunRow,
}

#[derive(Template)]
#[template(path = "portal/batch_status.html")]
struct StatusFragment {
    bu: BusinessUnitId,
    run: RunRow,
}

async fn found(
    state: &PortalState,
    visitor: &Visitor,
    bu: &BusinessUnit,
    id: &str,
) -> Result<BatchRun, PortalError> {
    let not_found = || PortalError::not_found(visitor, format!("no batch {id}"));
    let id: BatchRunId = id.parse().map_err(|_| not_found())?;
    batches::find(&state.app, bu.id, id)
        .await
        .map_err(|_| not_found())
}

async fn progress(
    State(state): State<PortalState>,
    visitor: Visitor,
    Path((bu, id)): Path<(String, String)>,
) -> PageResult {
    let bu = unit(&state, &visitor, &bu).await?;
    let run = found(&state, &visitor, &bu, &id).await?;
    Ok(render(
        StatusCode::OK,
        &ProgressPage {
            chrome: visitor.chrome(format!("Batch {}", run.source)),
            bu: bu.id,
            run: row(&run, &bu),
        },
    ))
}

/// The progress part alone: what the page's htmx swaps in every second while the batch runs.
async fn status(
    State(state): State<PortalState>,
    visitor: Visitor,
    Path((bu, id)): Path<(String, String)>,
) -> PageResult {
    let bu = unit(&state, &visitor, &bu).await?;
    let run = found(&state, &visitor, &bu, &id).await?;
    Ok(render(
        StatusCode::OK,
        &StatusFragment {
            bu: bu.id,
            run: row(&run, &bu),
        },
    ))
}

async fn report(
    State(state): State<PortalState>,
    visitor: Visitor,
    Path((bu, id)): Path<(String, String)>,
) -> Result<Response, PortalError> {
    let bu = unit(&state, &visitor, &bu).await?;
    let run = found(&state, &visitor, &bu, &id).await?;
    let text = batches::report(&state.app, run.id)
        .await
        .or_page(&visitor)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"batch-{}.jsonl\"", run.id),
            ),
        ],
        text,
    )
        .into_response())
}
