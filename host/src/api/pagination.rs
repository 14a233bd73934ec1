//! Paging of list routes: the `limit`/`offset`/`cursor`/`include_total`
//! query, and the `{"results", "pagination", "total"}` response. A cursor is
//! the base64url of the next offset; clients treat it as opaque.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{Errors, Validate};
use crate::store::{PageRequest, Paged};

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// Paging parameters of every list route.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Results per page, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Results to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// `next_cursor` of a previous page; takes precedence over `offset`.
    pub cursor: Option<String>,
    /// Accepted for compatibility; totals are always returned.
    pub include_total: Option<bool>,
}

impl Validate for ListParams {
    fn validate(&self, errors: &mut Errors) {
        errors.range(&["limit"], self.limit, Some(1), Some(MAX_LIMIT));
        errors.range(&["offset"], self.offset, Some(0), None);
        if let Some(cursor) = &self.cursor {
            if decode_cursor(cursor).is_none() {
                errors.push(&["cursor".into()], "Invalid cursor", "value_error");
            }
        }
    }
}

impl ListParams {
    /// The page asked for (valid once [`Validate`] passed).
    pub fn page(&self) -> PageRequest {
        let offset = match self.cursor.as_deref().and_then(decode_cursor) {
            Some(offset) => offset,
            None => self.offset.unwrap_or(0).max(0) as u64,
        };
        PageRequest {
            offset,
            limit: self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as u64,
        }
    }
}

pub fn encode_cursor(offset: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

pub fn decode_cursor(cursor: &str) -> Option<u64> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim().trim_end_matches('='))
        .ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix("o:")?
        .parse()
        .ok()
}

/// Where a page lies in the whole list.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct Pagination {
    /// Matching results in all pages.
    pub total: Option<u64>,
    /// 1-based number of this page.
    pub page: u64,
    pub page_size: u64,
    pub total_pages: Option<u64>,
    pub next_page: Option<u64>,
    pub previous_page: Option<u64>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T> {
    pub results: Vec<T>,
    pub pagination: Pagination,
    pub total: Option<u64>,
}

impl<T> ListResponse<T> {
    /// A page the store already cut.
    pub fn from_paged<R>(paged: Paged<R>, page: PageRequest, map: impl FnMut(R) -> T) -> Self {
        let results: Vec<T> = paged.items.into_iter().map(map).collect();
        Self::build(results, paged.total, page)
    }

    /// Cuts a page out of every matching record.
    pub fn from_all<R>(all: Vec<R>, page: PageRequest, map: impl FnMut(R) -> T) -> Self {
        let total = all.len() as u64;
        let results: Vec<T> = all
            .into_iter()
            .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(page.limit).unwrap_or(usize::MAX))
            .map(map)
            .collect();
        Self::build(results, total, page)
    }

    fn build(results: Vec<T>, total: u64, page: PageRequest) -> Self {
        let limit = page.limit.max(1);
        let number = page.offset / limit + 1;
        let end = page.offset + results.len() as u64;
        let more = end < total;
        let pagination = Pagination {
            total: Some(total),
            page: number,
            page_size: limit,
            total_pages: Some(total.div_ceil(limit)),
            next_page: more.then_some(number + 1),
            previous_page: (page.offset > 0).then(|| number.saturating_sub(1).max(1)),
            next_cursor: more.then(|| encode_cursor(end)),
        };
        Self {
            results,
            pagination,
            total: Some(total),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(250)), Some(250));
        assert_eq!(decode_cursor("not a cursor"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("x:1")), None);
    }

    #[test]
    fn pages_describe_their_place() {
        let all: Vec<u32> = (0..25).collect();
        let first = ListResponse::from_all(
            all.clone(),
            PageRequest {
                offset: 0,
                limit: 10,
            },
            |x| x,
        );
        assert_eq!(first.results.len(), 10);
        assert_eq!(first.total, Some(25));
        assert_eq!(first.pagination.page, 1);
        assert_eq!(first.pagination.total_pages, Some(3));
        assert_eq!(first.pagination.next_page, Some(2));
        assert_eq!(first.pagination.previous_page, None);
        let cursor = first.pagination.next_cursor.clone().unwrap();
        let params = ListParams {
            cursor: Some(cursor),
            limit: Some(10),
            ..ListParams::default()
        };
        let last = ListResponse::from_all(
            all,
            PageRequest {
                offset: 20,
                limit: 10,
            },
            |x| x,
        );
        assert_eq!(
            params.page(),
            PageRequest {
                offset: 10,
                limit: 10
            }
        );
        assert_eq!(last.results, vec![20, 21, 22, 23, 24]);
        assert_eq!(last.pagination.page, 3);
        assert_eq!(last.pagination.next_page, None);
        assert_eq!(last.pagination.next_cursor, None);
        assert_eq!(last.pagination.previous_page, Some(2));
    }
}
