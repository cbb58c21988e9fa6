-- Singular test: no customer has a negative total.
select customer_id, total_amount
from {{ ref('customer_orders') }}
where total_amount < 0
