"""`ccmon precheck`: a proposed delegation (NS names, glue, DS) probed as if the parent
already published it, and judged against IANA's technical requirements for root-zone
changes (docs/precheck.md). The proposal and the referral arithmetic are pure
(`proposal`, `referral`); `probe` sends the queries; the judges are
`probes.checks.precheck`."""
