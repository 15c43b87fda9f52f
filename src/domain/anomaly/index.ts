// Anomaly detection (S8.3): the rules and the scan use case.
export {
  ANOMALY_RULES,
  type AnomalyRule,
  DEFAULT_THRESHOLDS,
  evaluateRules,
  type Finding,
  newIp,
  newSymbol,
  type PriorOpen,
  type RuleThresholds,
  rapidFire,
  type ScanContext,
  type TradeActivity,
} from "./rules";
export {
  type AnomalyScanStore,
  runAnomalyScan,
  type ScanDeps,
  type ScanReport,
  type ScanTx,
  type Watermark,
} from "./scan";
