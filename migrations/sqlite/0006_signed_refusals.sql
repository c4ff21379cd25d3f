-- Whether an audit event's principal and credential were proven by a checked credential
-- ('verified') or only named by a refused request ('claimed', e.g. a signed request's
-- X-Machine-Id); NULL when the event names no one.
ALTER TABLE audit_events ADD COLUMN identity TEXT;

-- Events written before: a principal was always set from the authenticated caller; a
-- credential without a principal was the X-Machine-Id of a refused signed request.
UPDATE audit_events SET identity = CASE
    WHEN principal IS NOT NULL THEN 'verified'
    WHEN credential IS NOT NULL THEN 'claimed'
END;
