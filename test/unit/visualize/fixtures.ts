/** Fixture maps shared by the visualize and web tests (not a test file itself). */
import type { HttpResource, Intent, KafkaTopicAccess, WorkloadIdentity } from '../../../mapper/contract/index.ts';

const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);

export const wl = (name: string, namespace: string, kind = 'Deployment'): WorkloadIdentity => ({
  name,
  namespace,
  kind,
});

export function intent(
  client: WorkloadIdentity,
  server: WorkloadIdentity | { domain: string; ips?: string[] },
  extra: { ports?: number[]; http?: HttpResource[]; kafka?: KafkaTopicAccess[]; count?: number } = {},
): Intent {
  const base = {
    client,
    ports: extra.ports ?? [],
    http: extra.http ?? [],
    kafka: extra.kafka ?? [],
    firstSeen: T0,
    lastSeen: T0 + 60_000,
    count: extra.count ?? 1,
  };
  return 'domain' in server
    ? { ...base, external: { domain: server.domain, ips: server.ips ?? ['203.0.113.7'] } }
    : { ...base, server };
}

/** The microservices shop (two namespaces, Kafka, one external domain). */
export function shopIntents(): Intent[] {
  const shop = (n: string, k = 'Deployment') => wl(n, 'shop', k);
  const data = (n: string, k = 'StatefulSet') => wl(n, 'data', k);
  return [
    intent(shop('loadgenerator'), shop('frontend'), {
      ports: [8080],
      http: [
        { path: '/', methods: ['GET'] },
        { path: '/cart', methods: ['GET', 'POST'] },
        { path: '/cart/checkout', methods: ['POST'] },
        { path: '/product/{id}', methods: ['GET'] },
        { path: '/setCurrency', methods: ['POST'] },
      ],
    }),
    intent(shop('frontend'), shop('cart'), {
      ports: [7070],
      http: [{ path: '/hipstershop.CartService/GetCart', methods: ['POST'] }],
    }),
    intent(shop('frontend'), shop('productcatalog'), {
      ports: [3550],
      http: [{ path: '/hipstershop.ProductCatalogService/ListProducts', methods: ['POST'] }],
    }),
    intent(shop('frontend'), shop('currency'), {
      ports: [7000],
      http: [{ path: '/hipstershop.CurrencyService/Convert', methods: ['POST'] }],
    }),
    intent(shop('frontend'), shop('recommendation'), { ports: [8080] }),
    intent(shop('frontend'), shop('ad'), { ports: [9555] }),
    intent(shop('frontend'), shop('checkout'), {
      ports: [5050],
      http: [{ path: '/hipstershop.CheckoutService/PlaceOrder', methods: ['POST'] }],
    }),
    intent(shop('frontend'), shop('shipping'), { ports: [50051] }),
    intent(shop('checkout'), shop('payment'), { ports: [50051], http: [{ path: '/charge', methods: ['POST'] }] }),
    intent(shop('checkout'), shop('email'), { ports: [8080], http: [{ path: '/send', methods: ['POST'] }] }),
    intent(shop('checkout'), shop('cart'), { ports: [7070] }),
    intent(shop('checkout'), shop('shipping'), { ports: [50051] }),
    intent(shop('checkout'), shop('currency'), { ports: [7000] }),
    intent(shop('recommendation'), shop('productcatalog'), { ports: [3550] }),
    intent(shop('cart'), data('redis-cart'), { ports: [6379] }),
    intent(shop('checkout'), data('kafka'), {
      ports: [9092],
      kafka: [{ topic: 'orders', operations: ['produce', 'describe'], deniedOperations: [] }],
    }),
    intent(shop('email'), data('kafka'), {
      ports: [9092],
      kafka: [{ topic: 'orders', operations: ['consume'], deniedOperations: ['produce'] }],
    }),
    intent(shop('shipping'), data('kafka'), {
      ports: [9092],
      kafka: [{ topic: 'payments', operations: [], deniedOperations: ['consume'] }],
    }),
    intent(shop('payment'), { domain: 'api.stripe.com', ips: ['198.51.100.4'] }, { ports: [443] }),
  ];
}

/**
 * A synthetic map of `services` workloads over four namespaces: a layered call graph with HTTP,
 * Kafka and plain L4 edges (every service calls one or two services of the next layer).
 */
export function bigIntents(services = 60): Intent[] {
  const nss = ['edge', 'orders', 'billing', 'platform'] as const;
  const ws = Array.from({ length: services }, (_, i) =>
    wl(`svc-${String(i).padStart(2, '0')}`, nss[i % nss.length] ?? 'edge'),
  );
  const out: Intent[] = [];
  for (let i = 0; i < services; i++) {
    const c = ws[i];
    if (!c) continue;
    for (const step of [4, 7]) {
      const j = i + step;
      const s = ws[j];
      if (!s || (step === 7 && i % 3 !== 0)) continue;
      const mode = (i + step) % 3;
      out.push(
        intent(
          c,
          s,
          mode === 0
            ? {
                ports: [8080],
                http: Array.from({ length: 1 + (i % 5) }, (_, k) => ({
                  path: `/api/v${k}/${s.name}`,
                  methods: k % 2 ? ['POST'] : ['GET'],
                })),
              }
            : mode === 1
              ? { ports: [9092], kafka: [{ topic: `topic-${i}`, operations: ['produce'], deniedOperations: [] }] }
              : { ports: [5432 + (i % 3)] },
        ),
      );
    }
  }
  out.push(intent(ws[0] ?? wl('svc-00', 'edge'), { domain: 'api.example.com' }, { ports: [443] }));
  return out;
}
