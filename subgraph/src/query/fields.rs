//! The fields the executors resolve, by the SDL's names.
//!
//! The planner maps every selected field of the SDL to one of these; a field the SDL has and
//! this module does not know is answered with graph-node's "not yet implemented" error, and the
//! simulator's integration tests select every SDL field to prove there is none.

/// A field of `Query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootField {
    Token,
    Tokens,
    HourData,
    HourDatas,
    Meta,
}

/// A scalar field of `Token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenField {
    Id,
    Symbol,
    Name,
    Decimals,
    TotalSupply,
    Volume,
    VolumeUsd,
    UntrackedVolumeUsd,
    FeesUsd,
    TxCount,
    PoolCount,
    TotalValueLocked,
    TotalValueLockedUsd,
    TotalValueLockedUsdUntracked,
    DerivedEth,
}

/// A field of `TokenHourData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HourField {
    Id,
    PeriodStartUnix,
    Token,
    Volume,
    VolumeUsd,
    UntrackedVolumeUsd,
    TotalValueLocked,
    TotalValueLockedUsd,
    PriceUsd,
    FeesUsd,
    Open,
    High,
    Low,
    Close,
}

/// A field of `_Meta_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaField {
    Block,
    Deployment,
    HasIndexingErrors,
}

/// A field of `_Block_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockField {
    Hash,
    Number,
    Timestamp,
    ParentHash,
}

/// What a selected field resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Typename,
    Root(RootField),
    Token(TokenField),
    Hour(HourField),
    Meta(MetaField),
    Block(BlockField),
}

impl Kind {
    /// The resolver of field `name` of object type `parent`, if there is one.
    pub fn of(parent: &str, name: &str) -> Option<Kind> {
        if name == "__typename" {
            return Some(Kind::Typename);
        }
        match parent {
            "Query" => RootField::named(name).map(Kind::Root),
            "Token" => TokenField::named(name).map(Kind::Token),
            "TokenHourData" => HourField::named(name).map(Kind::Hour),
            "_Meta_" => MetaField::named(name).map(Kind::Meta),
            "_Block_" => BlockField::named(name).map(Kind::Block),
            _ => None,
        }
    }
}

impl RootField {
    /// The field called `name`.
    pub fn named(name: &str) -> Option<RootField> {
        Some(match name {
            "token" => RootField::Token,
            "tokens" => RootField::Tokens,
            "tokenHourData" => RootField::HourData,
            "tokenHourDatas" => RootField::HourDatas,
            "_meta" => RootField::Meta,
            _ => return None,
        })
    }
}

impl TokenField {
    /// The field called `name`.
    pub fn named(name: &str) -> Option<TokenField> {
        use TokenField::*;
        Some(match name {
            "id" => Id,
            "symbol" => Symbol,
            "name" => Name,
            "decimals" => Decimals,
            "totalSupply" => TotalSupply,
            "volume" => Volume,
            "volumeUSD" => VolumeUsd,
            "untrackedVolumeUSD" => UntrackedVolumeUsd,
            "feesUSD" => FeesUsd,
            "txCount" => TxCount,
            "poolCount" => PoolCount,
            "totalValueLocked" => TotalValueLocked,
            "totalValueLockedUSD" => TotalValueLockedUsd,
            "totalValueLockedUSDUntracked" => TotalValueLockedUsdUntracked,
            "derivedETH" => DerivedEth,
            _ => return None,
        })
    }

    /// True for the String fields (`symbol`, `name`).
    pub fn is_text(self) -> bool {
        matches!(self, TokenField::Symbol | TokenField::Name)
    }

    /// True for the BigInt fields.
    pub fn is_integer(self) -> bool {
        use TokenField::*;
        matches!(self, Decimals | TotalSupply | TxCount | PoolCount)
    }
}

impl HourField {
    /// The field called `name`.
    pub fn named(name: &str) -> Option<HourField> {
        use HourField::*;
        Some(match name {
            "id" => Id,
            "periodStartUnix" => PeriodStartUnix,
            "token" => Token,
            "volume" => Volume,
            "volumeUSD" => VolumeUsd,
            "untrackedVolumeUSD" => UntrackedVolumeUsd,
            "totalValueLocked" => TotalValueLocked,
            "totalValueLockedUSD" => TotalValueLockedUsd,
            "priceUSD" => PriceUsd,
            "feesUSD" => FeesUsd,
            "open" => Open,
            "high" => High,
            "low" => Low,
            "close" => Close,
            _ => return None,
        })
    }
}

impl MetaField {
    fn named(name: &str) -> Option<MetaField> {
        Some(match name {
            "block" => MetaField::Block,
            "deployment" => MetaField::Deployment,
            "hasIndexingErrors" => MetaField::HasIndexingErrors,
            _ => return None,
        })
    }
}

impl BlockField {
    fn named(name: &str) -> Option<BlockField> {
        Some(match name {
            "hash" => BlockField::Hash,
            "number" => BlockField::Number,
            "timestamp" => BlockField::Timestamp,
            "parentHash" => BlockField::ParentHash,
            _ => return None,
        })
    }
}
