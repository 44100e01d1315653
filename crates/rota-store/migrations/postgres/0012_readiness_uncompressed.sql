-- The readiness probe's row must need new room on a full disk: stored out of line and
-- uncompressed, its 4 KiB cannot shrink into a page's free space.
ALTER TABLE readiness ALTER COLUMN probe SET STORAGE EXTERNAL;
