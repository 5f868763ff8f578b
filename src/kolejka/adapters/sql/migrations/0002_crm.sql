-- Thulium's CRM: customer cards get Thulium's fields, and companies join them.
--
-- A company is a customer card of kind 'company' (company_flag 1; its name in company_name, so
-- the waiting list names the company from the card alone) plus one row here for the company's own
-- fields. The card holds the company's phone numbers in customer_phone_numbers like any card.
-- Deleting the card deletes the company; deleting the company row leaves persons in it without one.
CREATE TABLE companies (
    company_id {identity},
    customer_id BIGINT NOT NULL UNIQUE REFERENCES customers (customer_id) ON DELETE CASCADE,
    nip TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    custom_fields TEXT NOT NULL DEFAULT '{}'
);

-- "group" is a reserved word in SQL; the column is group_name, the wire field is `group`.
ALTER TABLE customers ADD COLUMN email TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN identifier TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN type TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN group_name TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN account_manager TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN custom_fields TEXT NOT NULL DEFAULT '{}';
ALTER TABLE customers ADD COLUMN company_id BIGINT REFERENCES companies (company_id) ON DELETE SET NULL;

-- Imports upsert by identifier; an empty identifier names nobody, so it may repeat.
CREATE UNIQUE INDEX customers_by_identifier ON customers (identifier) WHERE identifier <> '';
-- Who belongs to a company (and what ON DELETE SET NULL must visit); most customers belong to none.
CREATE INDEX customers_by_company ON customers (company_id) WHERE company_id IS NOT NULL;
