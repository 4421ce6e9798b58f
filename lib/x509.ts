// @peculiar/x509 needs the reflect-metadata polyfill loaded first; importing it through this module
// guarantees the order everywhere.
import "reflect-metadata";

export * from "@peculiar/x509";
