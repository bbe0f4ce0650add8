export * from './placement.js';
export * from './placement-service.js';
export * from './placement-client.js';
export { decisionFromProto, decisionToProto, placementDecidedJson, requestFromProto, requestToProto } from './proto-convert.js';
export {
  createPlacer,
  formatConstraint,
  parseConstraint,
  STRATEGIES,
  type Candidate,
  type Constraint,
  type ConstraintOp,
  type PlacementDecision,
  type PlacementNode,
  type PlacementRequest,
  type Placer,
  type Strategy,
} from '@strata/placement';
