// Types of model.js, for the Node unit tests (the browser loads model.js as a plain ES module).
import type { GraphEdge, GraphNode, GraphResponse } from '../../contract/index.ts';

export interface Point {
  x: number;
  y: number;
}
export interface Box extends Point {
  width: number;
  height: number;
}
export interface Call {
  peer: GraphNode;
  edge: GraphEdge;
}

export declare function nodeLabel(node: GraphNode): { title: string; subtitle: string };
export declare function edgeClass(edge: GraphEdge): 'http' | 'kafka' | 'denied' | 'l4';
export declare function edgeSummary(edge: GraphEdge, max?: number): string;
export declare function matches(node: GraphNode, query: string, edges: readonly GraphEdge[]): boolean;
export declare function search(graph: GraphResponse, query: string, limit?: number): GraphNode[];
export declare function callsOf(graph: GraphResponse, id: string): { out: Call[]; in: Call[] };
export declare function mergePositions(
  previous: Record<string, Point>,
  layout: Record<string, Box>,
  gap?: number,
): Record<string, Point>;
export declare function filterQuery(namespaces: readonly string[], external: boolean): string;
export declare function exportLinks(namespaces: readonly string[], external: boolean): { yaml: string; svg: string };
