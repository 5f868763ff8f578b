-- Thulium's CRM, every documented field (issue 12).
--
-- A card gains `nip` (filtered on, so a column of its own) and `details`: the documented fields
-- no filter reads (gender, homepage, birthdate, note, pesel, job, job_title, vip and the three
-- addresses) as one JSON object of the filled ones, `{}` when none. A company's identifier,
-- e-mail and account manager live on its card like a person's; its three addresses in
-- companies.details, which replaces the free-text companies.address: an old address becomes the
-- new address's `street`, so nothing written before is lost.
ALTER TABLE customers ADD COLUMN nip TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN details TEXT NOT NULL DEFAULT '{}';
ALTER TABLE companies ADD COLUMN details TEXT NOT NULL DEFAULT '{}';
UPDATE companies SET details = {json_object}('address', {json_object}('street', address))
WHERE address <> '';
ALTER TABLE companies DROP COLUMN address;

-- Every filter of GET customers and GET companies reads an index (tests/contract/
-- test_crm_query_plans.py fails on a scan). Most cards leave these fields empty, and an empty
-- value is no filter but for `identifier`, so the indexes hold the filled ones only.
CREATE INDEX customers_by_email ON customers (email) WHERE email <> '';
CREATE INDEX customers_by_nip ON customers (nip) WHERE nip <> '';
CREATE INDEX customers_by_type ON customers (type) WHERE type <> '';
CREATE INDEX customers_by_group ON customers (group_name) WHERE group_name <> '';
CREATE INDEX companies_by_nip ON companies (nip) WHERE nip <> '';
-- `identifier=` (empty): the cards without one, in id order.
CREATE INDEX customers_without_identifier ON customers (customer_id) WHERE identifier = '';
-- `company_flag`: persons or companies' cards, in id order.
CREATE INDEX customers_by_kind ON customers (kind, customer_id);

-- `custom_fields[Name][]=value`: one row per custom field of a card, the index finds the cards
-- with a value. A person's row holds its card's custom fields, a company's card the company's
-- (what GET companies shows). The JSON columns stay what reads show; this is their index, kept
-- by every write and import, and filled here from what is stored.
CREATE TABLE custom_field_values (
    customer_id BIGINT NOT NULL REFERENCES customers (customer_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX custom_field_values_by_value ON custom_field_values (name, value, customer_id);
-- Rewriting a card's values finds them by card.
CREATE INDEX custom_field_values_by_card ON custom_field_values (customer_id);
INSERT INTO custom_field_values (customer_id, name, value)
SELECT c.customer_id, j.key, j.value FROM customers c, {json_each}(c.custom_fields{as_json}) j
WHERE c.kind = 'person' AND c.custom_fields <> '{}';
INSERT INTO custom_field_values (customer_id, name, value)
SELECT k.customer_id, j.key, j.value FROM companies k, {json_each}(k.custom_fields{as_json}) j
WHERE k.custom_fields <> '{}';
