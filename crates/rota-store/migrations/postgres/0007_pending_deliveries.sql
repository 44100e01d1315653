-- The dispatcher looks for due deliveries of enabled subscriptions only: from each enabled
-- subscription, its pending deliveries by due time. Without it, every round went through the
-- pending deliveries of every subscription, and a disabled one's backlog slowed them all.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (subscription_id, next_attempt_at)
    WHERE state = 'pending';
