//! Named, realistic defects the emulator can switch on, so the harness can prove that its own
//! checks notice each kind of mistake a real server might make (mutation testing).
//!
//! Each fault is small and deterministic: a black-box request sequence of a few calls shows it.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// One defect. Names are kebab-case and stable: the harness and CI refer to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// Create answers 200.
    Create200,
    /// Update answers 201.
    Update201,
    /// Delete answers 200 with the user as body.
    Delete200Body,
    /// User SIDs start with `us`.
    SidLowercasePrefix,
    /// User SIDs have 31 hex digits.
    SidShort,
    /// `attributes` is a JSON object instead of a string.
    AttributesObject,
    /// `attributes` is null when never set.
    AttributesDefaultNull,
    /// `is_online` is `false` in Read.
    OnlineInRead,
    /// `is_notifiable` is left out of every user.
    NotifiableMissing,
    /// `friendly_name` is `""` when unset.
    FriendlyNameEmpty,
    /// Dates in RFC 2822.
    DatesRfc2822,
    /// `date_updated` a day before `date_created`.
    UpdatedBeforeCreated,
    /// `date_created` is rewritten on update.
    CreatedMoves,
    /// `url` is relative.
    RelativeUrl,
    /// `url` always uses the shortened form.
    UrlAlwaysShortened,
    /// `links.user_conversations` is not `url` + `/Conversations`.
    LinksWrong,
    /// `chat_service_sid` is the default service's in the service form.
    ChatServiceDefault,
    /// `account_sid` is not the caller's account.
    AccountSidWrong,
    /// Lookup by identity is not supported.
    IdentityLookupUnsupported,
    /// Identities match case-insensitively.
    IdentityCaseFolded,
    /// `+` in a lookup value is read as a space.
    IdentityPlusAsSpace,
    /// A lookup value is decoded as Latin-1.
    IdentityLatin1,
    /// A lookup value is percent-decoded twice.
    IdentityDoubleDecoded,
    /// A duplicate identity is accepted.
    DuplicateIdentityAccepted,
    /// Create without `Identity` succeeds.
    MissingIdentityAccepted,
    /// An identity shaped like a user SID is accepted.
    SidShapedIdentityAccepted,
    /// `RoleSid` is not validated.
    RoleSidUnvalidated,
    /// `Attributes` is not validated.
    AttributesUnvalidated,
    /// `X-Twilio-Webhook-Enabled` is not validated.
    WebhookHeaderUnvalidated,
    /// `PageSize` is not validated.
    PageSizeUnvalidated,
    /// The default page size is 20.
    PageSizeDefault20,
    /// `meta.key` is wrong.
    MetaKeyWrong,
    /// `next_page_url` is set on the last page.
    NextOnLastPage,
    /// `next_page_url` is null although more users follow.
    NextMissing,
    /// `next_page_url` points at the same page.
    PageRepeated,
    /// Paging skips one user per page.
    UserSkipped,
    /// `meta.page_size` is not the requested one.
    PageSizeNotEchoed,
    /// `previous_page_url` is set on page 0.
    PreviousOnFirstPage,
    /// Meta URLs point at Twilio's host.
    MetaForeignHost,
    /// Delete answers 204 but keeps the user.
    DeleteIneffective,
    /// Update answers 200 but changes nothing.
    UpdateIgnored,
    /// Update resets parameters it was not given.
    UpdateClearsUnspecified,
    /// Error bodies are plain text.
    ErrorPlainText,
    /// The error body's `status` is always 400.
    ErrorStatusMismatch,
    /// Not-found errors carry code 20400.
    NotFoundCodeWrong,
    /// JSON is sent as `text/plain`.
    ContentTypeTextPlain,
    /// Credentials are not checked.
    AuthNotEnforced,
    /// All services share one store.
    ServicesNotIsolated,
    /// An unknown service is served as if it existed.
    UnknownServiceAccepted,
    /// `chat_service_sid` is not the default service's in the shortened form.
    ShortenedWrongService,
    /// `chat_service_sid` starts with `is`.
    ServiceSidLowercase,
    /// `role_sid` has 31 hex digits.
    RoleSidShort,
    /// `is_online` is `false` in Create and Update answers.
    OnlineInWrite,
    /// `is_online` is `false` in Fetch with reachability off.
    OnlineWhenUnreachable,
    /// `is_notifiable` is `false` in Read.
    NotifiableInRead,
    /// `is_notifiable` is `false` in Fetch with reachability off.
    NotifiableWhenUnreachable,
    /// Create does not store `FriendlyName`.
    FriendlyNameDroppedOnCreate,
    /// Fetch answers 201.
    Fetch201,
    /// A page lists its first user twice.
    ReadDuplicate,
    /// `meta.page` is always 0.
    PageNotEchoed,
    /// Identities are stored and looked up NFC-normalized.
    IdentityNfc,
    /// Trailing whitespace of an identity is trimmed on create and on lookup.
    IdentityTrimmed,
    /// Identities are cut to 64 characters on create and on lookup.
    IdentityTruncated,
    /// `<` and `>` in `FriendlyName` are stored HTML-escaped.
    FriendlyNameMarkupEscaped,
    /// Floating-point numbers in `Attributes` are stored as 32-bit floats.
    AttributesFloat32,
    /// Integers beyond ±2^53 in `Attributes` are rounded to the nearest 64-bit float.
    AttributesBigIntRounded,
    /// A deleted user's identity cannot be used again in its service.
    RecreateConflict,
    /// Lookup by identity falls back to the first identity starting with the value.
    LookupPrefixMatch,
    /// Concurrent creates of one identity can all succeed.
    DuplicateRace,
    /// An update by identity is applied to that identity's users in every service.
    UpdateCrossService,
    /// A delete by identity deletes that identity's users in every service.
    DeleteCrossService,
    /// The default service's service form reads through a cache of its own.
    AliasStale,
    /// Read pages are kept until a create or delete in the service.
    PageCacheStale,
    /// A delete also deletes the users whose identity extends the deleted one's as a sub-key.
    DeletePrefixCascade,
    /// A deleted user's sid finds the user created again with its identity.
    SidReusedAfterRecreate,
    /// A `FriendlyName` that reads as a number is stored as one.
    FriendlyNameNumericAffinity,
    /// The `FriendlyName` `null`, in any letter case, is stored as no name.
    FriendlyNameNullLiteral,
    /// Numbers in `Attributes` beyond a double's range are stored as `null`.
    AttributesExponentOverflow,
    /// Numbers with a fraction or exponent in `Attributes` are cut to 15 significant digits.
    AttributesDecimalTruncated,
    /// Update and delete by identity fall back to an SQL `LIKE` of the value.
    LookupLikeWildcards,
    /// Lookup by identity falls back to reading the value as a regular expression.
    LookupRegex,
    /// Lookup by identity falls back to NFKC-normalized identities.
    LookupNfkcFolded,
    /// A Read page holds at most 200 users, and its next page starts after `PageSize`.
    PageCap200,
    /// Read ends at the 1000th user of a collection.
    ReadWindow1000,
    /// Concurrent updates of one user can lose all but one of their changes.
    UpdateLostConcurrent,
    /// An update concurrent with a delete brings the deleted user back.
    DeleteUpdateResurrect,
    /// A create concurrent with a delete of its identity leaves it out of the identity index.
    CreateDeleteIndexRace,
}

use Fault::*;

impl Fault {
    /// Every fault, in the order `convcheck faults` lists them.
    pub const ALL: [Fault; 87] = [
        Create200,
        Update201,
        Delete200Body,
        SidLowercasePrefix,
        SidShort,
        AttributesObject,
        AttributesDefaultNull,
        OnlineInRead,
        NotifiableMissing,
        FriendlyNameEmpty,
        DatesRfc2822,
        UpdatedBeforeCreated,
        CreatedMoves,
        RelativeUrl,
        UrlAlwaysShortened,
        LinksWrong,
        ChatServiceDefault,
        AccountSidWrong,
        IdentityLookupUnsupported,
        IdentityCaseFolded,
        IdentityPlusAsSpace,
        IdentityLatin1,
        IdentityDoubleDecoded,
        DuplicateIdentityAccepted,
        MissingIdentityAccepted,
        SidShapedIdentityAccepted,
        RoleSidUnvalidated,
        AttributesUnvalidated,
        WebhookHeaderUnvalidated,
        PageSizeUnvalidated,
        PageSizeDefault20,
        MetaKeyWrong,
        NextOnLastPage,
        NextMissing,
        PageRepeated,
        UserSkipped,
        PageSizeNotEchoed,
        PreviousOnFirstPage,
        MetaForeignHost,
        DeleteIneffective,
        UpdateIgnored,
        UpdateClearsUnspecified,
        ErrorPlainText,
        ErrorStatusMismatch,
        NotFoundCodeWrong,
        ContentTypeTextPlain,
        AuthNotEnforced,
        ServicesNotIsolated,
        UnknownServiceAccepted,
        ShortenedWrongService,
        ServiceSidLowercase,
        RoleSidShort,
        OnlineInWrite,
        OnlineWhenUnreachable,
        NotifiableInRead,
        NotifiableWhenUnreachable,
        FriendlyNameDroppedOnCreate,
        Fetch201,
        ReadDuplicate,
        PageNotEchoed,
        IdentityNfc,
        IdentityTrimmed,
        IdentityTruncated,
        FriendlyNameMarkupEscaped,
        AttributesFloat32,
        AttributesBigIntRounded,
        RecreateConflict,
        LookupPrefixMatch,
        DuplicateRace,
        UpdateCrossService,
        DeleteCrossService,
        AliasStale,
        PageCacheStale,
        DeletePrefixCascade,
        SidReusedAfterRecreate,
        FriendlyNameNumericAffinity,
        FriendlyNameNullLiteral,
        AttributesExponentOverflow,
        AttributesDecimalTruncated,
        LookupLikeWildcards,
        LookupRegex,
        LookupNfkcFolded,
        PageCap200,
        ReadWindow1000,
        UpdateLostConcurrent,
        DeleteUpdateResurrect,
        CreateDeleteIndexRace,
    ];

    /// The stable kebab-case name used by `--fault`.
    pub fn name(self) -> &'static str {
        self.info().0
    }

    /// The area of the contract the fault breaks.
    pub fn area(self) -> &'static str {
        self.info().1
    }

    /// What the defect does, in one line.
    pub fn description(self) -> &'static str {
        self.info().2
    }

    /// Name, area and description in one table so they cannot drift apart.
    fn info(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Create200 => ("create-200", "status", "create answers 200 instead of 201"),
            Update201 => ("update-201", "status", "update answers 201 instead of 200"),
            Delete200Body => (
                "delete-200-body",
                "status",
                "delete answers 200 with the user as body instead of an empty 204",
            ),
            SidLowercasePrefix => (
                "sid-lowercase-prefix",
                "sid",
                "user sids start with `us` instead of `US`",
            ),
            SidShort => (
                "sid-short",
                "sid",
                "user sids have 31 hex digits instead of 32",
            ),
            AttributesObject => (
                "attributes-object",
                "properties",
                "`attributes` is returned as a JSON object instead of a string",
            ),
            AttributesDefaultNull => (
                "attributes-default-null",
                "properties",
                "`attributes` is null instead of `\"{}\"` when never set",
            ),
            OnlineInRead => (
                "online-in-read",
                "properties",
                "`is_online` is `false` instead of null in read",
            ),
            NotifiableMissing => (
                "notifiable-missing",
                "properties",
                "the `is_notifiable` key is left out of every user",
            ),
            FriendlyNameEmpty => (
                "friendly-name-empty",
                "properties",
                "`friendly_name` is `\"\"` instead of null when unset",
            ),
            DatesRfc2822 => (
                "dates-rfc2822",
                "properties",
                "dates are written in RFC 2822 instead of ISO 8601",
            ),
            UpdatedBeforeCreated => (
                "updated-before-created",
                "properties",
                "`date_updated` is a day before `date_created`",
            ),
            CreatedMoves => (
                "created-moves",
                "properties",
                "update rewrites `date_created` (to at least one second later)",
            ),
            RelativeUrl => (
                "relative-url",
                "properties",
                "`url` and links are relative paths instead of absolute URLs",
            ),
            UrlAlwaysShortened => (
                "url-always-shortened",
                "properties",
                "`url` uses the shortened form even for service-form requests",
            ),
            LinksWrong => (
                "links-wrong",
                "properties",
                "`links.user_conversations` is `url` + `/Channels`",
            ),
            ChatServiceDefault => (
                "chat-service-default",
                "properties",
                "`chat_service_sid` is the default service's in the service form",
            ),
            AccountSidWrong => (
                "account-sid-wrong",
                "properties",
                "`account_sid` is another account's sid",
            ),
            IdentityLookupUnsupported => (
                "identity-lookup-unsupported",
                "lookup",
                "fetch, update and delete by identity answer 404",
            ),
            IdentityCaseFolded => (
                "identity-case-folded",
                "lookup",
                "lookup by identity ignores case",
            ),
            IdentityPlusAsSpace => (
                "identity-plus-as-space",
                "lookup",
                "`+` in a lookup value is read as a space",
            ),
            IdentityLatin1 => (
                "identity-latin1",
                "lookup",
                "a lookup value is decoded as Latin-1 instead of UTF-8",
            ),
            IdentityDoubleDecoded => (
                "identity-double-decoded",
                "lookup",
                "a lookup value is percent-decoded twice",
            ),
            DuplicateIdentityAccepted => (
                "duplicate-identity-accepted",
                "validation",
                "create accepts an identity already used in the service",
            ),
            MissingIdentityAccepted => (
                "missing-identity-accepted",
                "validation",
                "create without `Identity` succeeds with a null identity",
            ),
            SidShapedIdentityAccepted => (
                "sid-shaped-identity-accepted",
                "validation",
                "create accepts an identity shaped like a user sid",
            ),
            RoleSidUnvalidated => (
                "role-sid-unvalidated",
                "validation",
                "any `RoleSid` is accepted and stored as given",
            ),
            AttributesUnvalidated => (
                "attributes-unvalidated",
                "validation",
                "any `Attributes` string is accepted, JSON object or not",
            ),
            WebhookHeaderUnvalidated => (
                "webhook-header-unvalidated",
                "validation",
                "any `X-Twilio-Webhook-Enabled` value is accepted",
            ),
            PageSizeUnvalidated => (
                "page-size-unvalidated",
                "pagination",
                "an invalid `PageSize` is clamped or ignored instead of refused",
            ),
            PageSizeDefault20 => (
                "page-size-default-20",
                "pagination",
                "the default page size is 20 instead of 50",
            ),
            MetaKeyWrong => (
                "meta-key-wrong",
                "pagination",
                "`meta.key` is `items` instead of `users`",
            ),
            NextOnLastPage => (
                "next-on-last-page",
                "pagination",
                "`next_page_url` is set on the last page",
            ),
            NextMissing => (
                "next-missing",
                "pagination",
                "`next_page_url` is null although more users follow",
            ),
            PageRepeated => (
                "page-repeated",
                "pagination",
                "`next_page_url` points at the same page again",
            ),
            UserSkipped => (
                "user-skipped",
                "pagination",
                "each next page skips the first user it should show",
            ),
            PageSizeNotEchoed => (
                "page-size-not-echoed",
                "pagination",
                "`meta.page_size` is the default instead of the requested size",
            ),
            PreviousOnFirstPage => (
                "previous-on-first-page",
                "pagination",
                "`previous_page_url` is set on page 0",
            ),
            MetaForeignHost => (
                "meta-foreign-host",
                "pagination",
                "meta URLs point at `https://conversations.twilio.com`",
            ),
            DeleteIneffective => (
                "delete-ineffective",
                "mutation",
                "delete answers 204 but the user stays",
            ),
            UpdateIgnored => (
                "update-ignored",
                "mutation",
                "update answers 200 but changes nothing",
            ),
            UpdateClearsUnspecified => (
                "update-clears-unspecified",
                "mutation",
                "update resets the parameters it was not given",
            ),
            ErrorPlainText => (
                "error-plain-text",
                "errors",
                "error bodies are plain text instead of Twilio's JSON",
            ),
            ErrorStatusMismatch => (
                "error-status-mismatch",
                "errors",
                "the error body's `status` is always 400",
            ),
            NotFoundCodeWrong => (
                "not-found-code-wrong",
                "errors",
                "not-found errors carry code 20400 instead of 20404",
            ),
            ContentTypeTextPlain => (
                "content-type-text-plain",
                "headers",
                "JSON bodies are sent as `text/plain`",
            ),
            AuthNotEnforced => (
                "auth-not-enforced",
                "auth",
                "requests without valid credentials are served",
            ),
            ServicesNotIsolated => (
                "services-not-isolated",
                "services",
                "all services share one store of users",
            ),
            UnknownServiceAccepted => (
                "unknown-service-accepted",
                "services",
                "a well-formed but unknown service sid is served as if it existed",
            ),
            ShortenedWrongService => (
                "shortened-wrong-service",
                "properties",
                "`chat_service_sid` names another service in the shortened form",
            ),
            ServiceSidLowercase => (
                "service-sid-lowercase-prefix",
                "sid",
                "`chat_service_sid` starts with `is` instead of `IS`",
            ),
            RoleSidShort => (
                "role-sid-short",
                "sid",
                "`role_sid` has 31 hex digits instead of 32",
            ),
            OnlineInWrite => (
                "online-in-write",
                "properties",
                "`is_online` is `false` instead of null in create and update answers",
            ),
            OnlineWhenUnreachable => (
                "online-when-unreachable",
                "properties",
                "`is_online` is `false` in fetch although reachability is off",
            ),
            NotifiableInRead => (
                "notifiable-in-read",
                "properties",
                "`is_notifiable` is `false` instead of null in read",
            ),
            NotifiableWhenUnreachable => (
                "notifiable-when-unreachable",
                "properties",
                "`is_notifiable` is `false` in fetch although reachability is off",
            ),
            FriendlyNameDroppedOnCreate => (
                "friendly-name-dropped-on-create",
                "mutation",
                "create ignores `FriendlyName`",
            ),
            Fetch201 => ("fetch-201", "status", "fetch answers 201 instead of 200"),
            ReadDuplicate => (
                "read-duplicate",
                "pagination",
                "each page lists its first user twice",
            ),
            PageNotEchoed => ("page-not-echoed", "pagination", "`meta.page` is always 0"),
            IdentityNfc => (
                "identity-nfc",
                "storage",
                "identities are stored and looked up NFC-normalized (`e` + U+0301 comes back as `é`)",
            ),
            IdentityTrimmed => (
                "identity-trimmed",
                "storage",
                "trailing whitespace of an identity is trimmed on create and on lookup",
            ),
            IdentityTruncated => (
                "identity-truncated",
                "storage",
                "identities longer than 64 characters are stored cut to 64, and lookups are cut too",
            ),
            FriendlyNameMarkupEscaped => (
                "friendly-name-markup-escaped",
                "storage",
                "`<` and `>` in `FriendlyName` are stored as `&lt;` and `&gt;`",
            ),
            AttributesFloat32 => (
                "attributes-float32",
                "storage",
                "floating-point numbers in `Attributes` come back through a 32-bit float (0.1 is 0.10000000149011612)",
            ),
            AttributesBigIntRounded => (
                "attributes-big-int-rounded",
                "storage",
                "integers beyond ±2^53 in `Attributes` come back rounded to the nearest 64-bit float",
            ),
            RecreateConflict => (
                "recreate-conflict",
                "mutation",
                "creating a deleted user's identity again is refused as a duplicate (a soft delete)",
            ),
            LookupPrefixMatch => (
                "lookup-prefix-match",
                "lookup",
                "lookup by identity takes the first identity starting with the value when none equals it",
            ),
            DuplicateRace => (
                "duplicate-race",
                "concurrency",
                "create checks for a duplicate, lets the store go, then inserts: concurrent creates of one identity can all succeed",
            ),
            UpdateCrossService => (
                "update-cross-service",
                "world",
                "an update by identity is also applied to the users with that identity in every other service",
            ),
            DeleteCrossService => (
                "delete-cross-service",
                "world",
                "a delete by identity also deletes the users with that identity in every other service",
            ),
            AliasStale => (
                "alias-stale",
                "world",
                "the default service's service form shows each user as it first showed it until a write to that user goes through that form",
            ),
            PageCacheStale => (
                "page-cache-stale",
                "world",
                "read pages are kept per URL and dropped only by a create or delete in the service, so read shows updates late",
            ),
            DeletePrefixCascade => (
                "delete-prefix-cascade",
                "world",
                "a delete also deletes the users whose identity is the deleted one's followed by `-`, `_`, `.` or `:`",
            ),
            SidReusedAfterRecreate => (
                "sid-reused-after-recreate",
                "world",
                "once a deleted user's identity is created again, the deleted user's sid finds the new user",
            ),
            FriendlyNameNumericAffinity => (
                "friendly-name-numeric-affinity",
                "values",
                "a `FriendlyName` that reads as a number comes back as SQLite's NUMERIC affinity stores it (`00123` is `123`, `1.50` is `1.5`)",
            ),
            FriendlyNameNullLiteral => (
                "friendly-name-null-literal",
                "values",
                "the `FriendlyName` `null` (in any letter case) is stored as no name and comes back JSON null",
            ),
            AttributesExponentOverflow => (
                "attributes-exponent-overflow",
                "values",
                "numbers in `Attributes` beyond a double's range (`1e400`) come back as `null`",
            ),
            AttributesDecimalTruncated => (
                "attributes-decimal-truncated",
                "values",
                "numbers with a fraction or exponent in `Attributes` come back cut to 15 significant digits",
            ),
            LookupLikeWildcards => (
                "lookup-like-wildcards",
                "lookup",
                "update and delete by identity take the value as an SQL `LIKE` pattern (`_`, `%`) when none equals it",
            ),
            LookupRegex => (
                "lookup-regex",
                "lookup",
                "lookup by identity takes the value as an anchored regular expression when none equals it",
            ),
            LookupNfkcFolded => (
                "lookup-nfkc-folded",
                "lookup",
                "lookup by identity compares NFKC-normalized identities (fullwidth letters, ligatures) when none equals the value, as username canonicalization does",
            ),
            PageCap200 => (
                "page-cap-200",
                "pagination",
                "a page holds at most 200 users whatever `PageSize` asks, and the next page starts after the `PageSize`-th",
            ),
            ReadWindow1000 => (
                "read-window-1000",
                "pagination",
                "read ends at the 1000th user of a collection: that page has no `next_page_url`",
            ),
            UpdateLostConcurrent => (
                "update-lost-concurrent",
                "concurrency",
                "update reads the user, lets the store go, then writes the whole user back: a concurrent update's change is lost",
            ),
            DeleteUpdateResurrect => (
                "delete-update-resurrect",
                "concurrency",
                "update reads the user, lets the store go, then upserts it: a user deleted meanwhile is back under its old sid",
            ),
            CreateDeleteIndexRace => (
                "create-delete-index-race",
                "concurrency",
                "delete lets the store go before it drops the identity from the index: a create of that identity meanwhile is found by sid only",
            ),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fault::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown fault `{s}`: `convcheck faults` lists them"))
    }
}

/// The set of faults switched on; empty for a conformant emulator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults(BTreeSet<Fault>);

impl Faults {
    /// Whether `fault` is on.
    pub fn has(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }

    /// Whether no fault is on.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The faults switched on, in name order of [`Fault::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = Fault> + '_ {
        self.0.iter().copied()
    }
}

impl FromIterator<Fault> for Faults {
    fn from_iter<I: IntoIterator<Item = Fault>>(iter: I) -> Self {
        Faults(iter.into_iter().collect())
    }
}

/// The `convcheck faults` listing: `name  area  description`, names padded to one column.
pub fn listing() -> String {
    let width = Fault::ALL.iter().map(|f| f.name().len()).max().unwrap_or(0);
    let area_width = Fault::ALL.iter().map(|f| f.area().len()).max().unwrap_or(0);
    Fault::ALL
        .iter()
        .map(|f| {
            format!(
                "{:width$}  {:area_width$}  {}\n",
                f.name(),
                f.area(),
                f.description()
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_are_unique() {
        let mut seen = BTreeSet::new();
        for f in Fault::ALL {
            assert_eq!(f.name().parse::<Fault>(), Ok(f));
            assert!(seen.insert(f.name()), "duplicate name `{}`", f.name());
            assert!(!f.description().ends_with('.'), "{}", f.name());
        }
        assert!(Fault::ALL.len() >= 30);
    }

    #[test]
    fn unknown_name_points_at_the_listing() {
        let e = "nope".parse::<Fault>().unwrap_err();
        assert!(
            e.contains("`nope`") && e.contains("convcheck faults"),
            "{e}"
        );
    }

    #[test]
    fn listing_has_one_line_per_fault() {
        assert_eq!(listing().lines().count(), Fault::ALL.len());
    }
}
