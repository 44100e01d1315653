-- What the readiness probe writes and deletes in one transaction: a row larger than a page, so
-- that a database that is full, read-only or not writable for any other reason reads as not
-- ready, not only one that does not answer.
CREATE TABLE readiness (
    id INTEGER PRIMARY KEY NOT NULL,
    probe TEXT NOT NULL
);
