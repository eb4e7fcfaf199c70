/**
 * The demo cluster, described once in plain data: the microservices shop (Google's Online
 * Boutique), a Kafka StatefulSet and two Kafka clients. Every piece of demo data — the Kubernetes
 * objects, the packet capture, the Envoy stats pages and the Kafka authorizer log — is generated
 * from this description by `generate.ts`; nothing is hand-edited.
 */

export interface DemoWorkload {
  name: string;
  namespace: string;
  kind: 'Deployment' | 'StatefulSet';
  replicas: number;
  /** Container port the workload serves on (and its Service port). */
  port?: number;
  /** Pods carry the Istio sidecar label and serve Envoy stats. */
  istio: boolean;
}

export interface DemoHttpCall {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  /** Requests per demo round. */
  rate: number;
}

export interface DemoCall {
  from: string;
  to: string;
  /** HTTP/gRPC calls seen by the Istio sidecars (absent: L4 only, seen by the sniffer). */
  http?: DemoHttpCall[];
}

export interface DemoKafkaAccess {
  client: string;
  topic: string;
  /** Kafka operation names as the broker's authorizer logs them. */
  operations: Array<'Read' | 'Write' | 'Describe' | 'Create' | 'Alter' | 'Delete'>;
  denied?: boolean;
}

export interface DemoExternal {
  from: string;
  domain: string;
  ips: string[];
  port: number;
}

export const DEMO_NAMESPACES = ['shop', 'kafka'] as const;

const shop = (name: string, port: number, replicas = 1): DemoWorkload => ({
  name,
  namespace: 'shop',
  kind: 'Deployment',
  replicas,
  port,
  istio: true,
});

export const DEMO_WORKLOADS: DemoWorkload[] = [
  shop('frontend', 8080, 2),
  shop('cartservice', 7070),
  shop('checkoutservice', 5050),
  shop('currencyservice', 7000),
  shop('emailservice', 8080),
  shop('paymentservice', 50051),
  shop('productcatalogservice', 3550),
  shop('recommendationservice', 8080),
  shop('shippingservice', 50051),
  shop('adservice', 9555),
  { name: 'redis-cart', namespace: 'shop', kind: 'Deployment', replicas: 1, port: 6379, istio: false },
  { name: 'loadgenerator', namespace: 'shop', kind: 'Deployment', replicas: 1, istio: true },
  { name: 'order-archiver', namespace: 'shop', kind: 'Deployment', replicas: 1, istio: false },
  { name: 'fraud-detector', namespace: 'shop', kind: 'Deployment', replicas: 1, istio: false },
  { name: 'kafka', namespace: 'kafka', kind: 'StatefulSet', replicas: 2, port: 9092, istio: false },
];

const grpc = (service: string, ...methods: string[]): DemoHttpCall[] =>
  methods.map((m) => ({ method: 'POST', path: `/hipstershop.${service}/${m}`, rate: 5 }));

export const DEMO_CALLS: DemoCall[] = [
  {
    from: 'loadgenerator',
    to: 'frontend',
    http: [
      { method: 'GET', path: '/', rate: 20 },
      { method: 'GET', path: '/product/OLJCESPC7Z', rate: 12 },
      { method: 'GET', path: '/product/66VCHSJNUP', rate: 8 },
      { method: 'POST', path: '/cart', rate: 6 },
      { method: 'GET', path: '/cart', rate: 6 },
      { method: 'POST', path: '/cart/checkout', rate: 3 },
      { method: 'POST', path: '/setCurrency', rate: 2 },
    ],
  },
  { from: 'frontend', to: 'productcatalogservice', http: grpc('ProductCatalogService', 'ListProducts', 'GetProduct') },
  { from: 'frontend', to: 'currencyservice', http: grpc('CurrencyService', 'GetSupportedCurrencies', 'Convert') },
  { from: 'frontend', to: 'cartservice', http: grpc('CartService', 'GetCart', 'AddItem') },
  { from: 'frontend', to: 'recommendationservice', http: grpc('RecommendationService', 'ListRecommendations') },
  { from: 'frontend', to: 'shippingservice', http: grpc('ShippingService', 'GetQuote') },
  { from: 'frontend', to: 'checkoutservice', http: grpc('CheckoutService', 'PlaceOrder') },
  { from: 'frontend', to: 'adservice', http: grpc('AdService', 'GetAds') },
  { from: 'checkoutservice', to: 'productcatalogservice', http: grpc('ProductCatalogService', 'GetProduct') },
  { from: 'checkoutservice', to: 'cartservice', http: grpc('CartService', 'GetCart', 'EmptyCart') },
  { from: 'checkoutservice', to: 'currencyservice', http: grpc('CurrencyService', 'Convert') },
  { from: 'checkoutservice', to: 'shippingservice', http: grpc('ShippingService', 'GetQuote', 'ShipOrder') },
  { from: 'checkoutservice', to: 'emailservice', http: grpc('EmailService', 'SendOrderConfirmation') },
  { from: 'checkoutservice', to: 'paymentservice', http: grpc('PaymentService', 'Charge') },
  { from: 'recommendationservice', to: 'productcatalogservice', http: grpc('ProductCatalogService', 'ListProducts') },
  // L4 only: the sniffer sees these (no sidecar on the server side).
  { from: 'cartservice', to: 'redis-cart' },
  { from: 'checkoutservice', to: 'kafka' },
  { from: 'order-archiver', to: 'kafka' },
  { from: 'fraud-detector', to: 'kafka' },
];

export const DEMO_KAFKA: DemoKafkaAccess[] = [
  { client: 'checkoutservice', topic: 'orders', operations: ['Write', 'Describe'] },
  { client: 'order-archiver', topic: 'orders', operations: ['Read', 'Describe'] },
  { client: 'fraud-detector', topic: 'orders', operations: ['Read'] },
  { client: 'fraud-detector', topic: 'fraud-alerts', operations: ['Write'] },
  { client: 'fraud-detector', topic: 'payments', operations: ['Read'], denied: true },
];

export const DEMO_EXTERNAL: DemoExternal[] = [
  { from: 'paymentservice', domain: 'api.stripe.com', ips: ['203.0.113.10'], port: 443 },
  { from: 'emailservice', domain: 'smtp.sendgrid.net', ips: ['203.0.113.25'], port: 587 },
];
