"""GraphQL over the read models (/graphql): the REST routes' query functions, as a schema
with cursor connections, subscriptions fed by the /stream hub, and request limits."""
