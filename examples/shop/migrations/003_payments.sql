CREATE TABLE payments (
  id serial PRIMARY KEY,
  order_number integer NOT NULL,
  amount_cents integer NOT NULL,
  provider_charge_id text,
  status text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
