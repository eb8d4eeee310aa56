/** The package version; it follows the API's (sdk/VERSION). */
export const VERSION = "1.1.0";
