-- An event's body as first sent (docs/webhooks.md, "What an event says, and when"): the change
-- writes only what it knows, delivery adds the rest (the CRM's match, the number as shown) when
-- it first renders the event and stores the bytes here, so every subscriber and every retry
-- sends the same body. NULL until then.
ALTER TABLE webhook_events ADD COLUMN rendered TEXT;
