// What a Binance USD-M key's account is set to, for its scope report at /connect: the asset
// mode (GET /fapi/v1/multiAssetsMargin) and, on the testnet (no /sapi), the key's scope as a
// signed futures read proves it.
import type ccxt from "ccxt";
import type { ScopeReport } from "../../domain/venues/types";
import { record } from "./ccxt-keyed";

type Client = InstanceType<typeof ccxt.binanceusdm>;

/**
 * The account's asset mode (GET /fapi/v1/multiAssetsMargin): true Multi-Assets Mode, false
 * Single-Asset Mode, "unreported" when Binance's answer lacks it (refused: nothing confirmed it).
 */
export async function assetModeOf(ex: Client): Promise<boolean | "unreported"> {
  const mode = record(await ex.fapiPrivateGetMultiAssetsMargin()).multiAssetsMargin;
  return typeof mode === "boolean" ? mode : "unreported";
}

/**
 * A testnet key's scope: a signed futures read (GET /fapi/v1/positionSide/dual) proves the key
 * is valid (-2015 otherwise) and may read futures; the testnet has no spot, margin, transfer or
 * withdrawal API to grant, so those are reported off. The report says where it came from.
 */
export async function testnetScopeReport(ex: Client): Promise<ScopeReport> {
  await ex.fetchPositionMode();
  return {
    venue: "binanceusdm",
    permissions: {
      enableReading: true,
      enableFutures: true,
      enableWithdrawals: false,
      enableInternalTransfer: false,
      permitsUniversalTransfer: false,
      enableSpotAndMarginTrading: false,
      enableMargin: false,
      multiAssetsMargin: await assetModeOf(ex),
    },
    ipBound: false,
    expiresAt: null,
  };
}
